locals {
  # Tags name the target and each role: the load balancer and the firewalls follow them (a new
  # droplet is covered as soon as it exists), and Consul's cloud auto-join can find the servers
  # (provider=digitalocean tag_name=<name>-manager).
  target_tag = "elm-infra-${var.name}"
  role_tag   = { manager = "${var.name}-manager", worker = "${var.name}-worker" }
  size       = { manager = var.manager_size, worker = var.worker_size }
  workers    = [for n, h in var.hosts : n if h.role == "worker"]
  # The volume's holder: the planner's choice, else the lowest-numbered worker.
  package_data_host = coalesce(var.package_data_host, try(sort(local.workers)[0], null))
}

resource "digitalocean_tag" "target" {
  name = local.target_tag
}

resource "digitalocean_tag" "role" {
  for_each = local.role_tag
  name     = each.value
}

resource "digitalocean_vpc" "cluster" {
  name        = "elm-infra-${var.name}"
  region      = var.region
  ip_range    = var.vpc_cidr
  description = "elm-infra cluster ${var.name}"
}

# The operator's key, uploaded to the account, unless it is there already (DigitalOcean refuses a
# second upload of the same key, 422 "already in use"): then ssh_key_fingerprint names it.
resource "digitalocean_ssh_key" "operator" {
  count      = var.ssh_key_fingerprint == null ? 1 : 0
  name       = "elm-infra-${var.name}"
  public_key = var.ssh_public_key
}

moved {
  from = digitalocean_ssh_key.operator
  to   = digitalocean_ssh_key.operator[0]
}

resource "digitalocean_droplet" "host" {
  for_each   = var.hosts
  name       = each.key
  region     = var.region
  image      = var.image
  size       = local.size[each.value.role]
  vpc_uuid   = digitalocean_vpc.cluster.id
  ssh_keys   = [coalesce(var.ssh_key_fingerprint, try(digitalocean_ssh_key.operator[0].fingerprint, null))]
  tags       = concat([digitalocean_tag.target.name, digitalocean_tag.role[each.value.role].name], var.tags)
  monitoring = true
  # sshd on ssh_port from the first boot, before anyone connects (the cloud firewall opens only
  # that port); the playbook's base role keeps the same drop-in afterwards. And the listed
  # operators' keys beside the account's: an operator who logs in with their own key reaches a
  # droplet this apply creates before the playbook (which keeps the list) has run.
  user_data = var.ssh_port == 22 && length(var.operator_ssh_keys) == 0 ? null : join("", [
    "#cloud-config\n",
    length(var.operator_ssh_keys) == 0 ? "" : "ssh_authorized_keys:\n${join("", [for k in var.operator_ssh_keys : "  - ${jsonencode(k)}\n"])}",
    var.ssh_port == 22 ? "" : <<-EOT
      write_files:
        - path: /etc/ssh/sshd_config.d/01-elm-infra.conf
          permissions: "0644"
          content: |
            Port ${var.ssh_port}
      runcmd:
        - [systemctl, restart, ssh]
    EOT
  ])

  lifecycle {
    # A newer image slug must not replace running hosts; the playbook upgrades them in place.
    # Nor a change of ssh_port (the first boot's setting): changing a running target's port is
    # not supported. Nor another account key (a second operator's public key beside their
    # ssh.privateKey): a droplet takes its keys at creation only, the playbook keeps
    # authorized_keys afterwards; unignored, that operator's apply would update every droplet.
    ignore_changes = [image, user_data, ssh_keys]
  }
}

# The package data (package.elm-lang.org's files) on block storage: it outlives any droplet. It is
# attached to one worker (package_data_host); when that worker is removed, this apply detaches it
# and attaches it to the worker elm-infra chose next, and the package service follows the volume.
resource "digitalocean_volume" "package_data" {
  region                   = var.region
  name                     = "${var.name}-package-data"
  size                     = var.package_data_size
  initial_filesystem_type  = "ext4"
  initial_filesystem_label = "package-data"
  description              = "elm-infra ${var.name}: package data"
}

resource "digitalocean_volume_attachment" "package_data" {
  droplet_id = digitalocean_droplet.host[local.package_data_host].id
  volume_id  = digitalocean_volume.package_data.id

  lifecycle {
    precondition {
      condition     = contains(local.workers, local.package_data_host)
      error_message = "package_data_host must be one of the workers."
    }
  }
}

# What users reach: 80 to Traefik's web entrypoint, 443 passed through to Traefik (it holds the
# certificates). A worker takes traffic only while Traefik's ping answers.
resource "digitalocean_loadbalancer" "web" {
  name        = "elm-infra-${var.name}"
  region      = var.region
  vpc_uuid    = digitalocean_vpc.cluster.id
  droplet_tag = digitalocean_tag.role["worker"].name

  forwarding_rule {
    entry_protocol  = "http"
    entry_port      = 80
    target_protocol = "http"
    target_port     = 80
  }

  forwarding_rule {
    entry_protocol  = "https"
    entry_port      = 443
    target_protocol = "https"
    target_port     = 443
    tls_passthrough = true
  }

  healthcheck {
    protocol                 = "http"
    port                     = 8082
    path                     = "/ping"
    check_interval_seconds   = 3
    response_timeout_seconds = 3
    unhealthy_threshold      = 2
    healthy_threshold        = 2
  }

  # Droplets must carry the tag before the load balancer can select them.
  depends_on = [digitalocean_droplet.host]
}

# DNS, when cluster.yaml names a zone hosted on DigitalOcean: an A record of every hostname for the
# load balancer's address, so the CA (HTTP-01) and visitors reach it. No AAAA record: the 1.x load
# balancer has no IPv6 address. A record this module made and no longer needs (a hostname gone)
# is deleted with the next apply; records it did not make, AAAA ones included, it never touches
# (bring-up names any AAAA record it finds for a hostname: delete it by hand).
resource "digitalocean_record" "site" {
  for_each = var.dns_zone == null ? {} : var.dns_records
  domain   = var.dns_zone
  type     = "A"
  name     = each.value
  value    = digitalocean_loadbalancer.web.ip
  # Short: a record that must change (a new load balancer) is seen soon.
  ttl = 300
}

# Every host: SSH from the operators only; the cluster's ports (Consul, Nomad, the services,
# Traefik's ping) from inside the VPC only; any traffic out (package mirrors, the registry).
resource "digitalocean_firewall" "cluster" {
  name = "elm-infra-${var.name}-cluster"
  tags = [digitalocean_tag.target.name]

  inbound_rule {
    protocol         = "tcp"
    port_range       = tostring(var.ssh_port)
    source_addresses = var.admin_cidrs
  }

  dynamic "inbound_rule" {
    for_each = ["tcp", "udp"]
    content {
      protocol         = inbound_rule.value
      port_range       = "1-65535"
      source_addresses = [var.vpc_cidr]
    }
  }

  inbound_rule {
    protocol         = "icmp"
    source_addresses = [var.vpc_cidr]
  }

  dynamic "outbound_rule" {
    for_each = ["tcp", "udp"]
    content {
      protocol              = outbound_rule.value
      port_range            = "1-65535"
      destination_addresses = ["0.0.0.0/0", "::/0"]
    }
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }
}

# Workers run Traefik: its entrypoints take traffic from the load balancer only.
resource "digitalocean_firewall" "web" {
  name = "elm-infra-${var.name}-web"
  tags = [digitalocean_tag.role["worker"].name]

  dynamic "inbound_rule" {
    for_each = ["80", "443"]
    content {
      protocol                  = "tcp"
      port_range                = inbound_rule.value
      source_load_balancer_uids = [digitalocean_loadbalancer.web.id]
    }
  }
}
