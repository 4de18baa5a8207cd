locals {
  common_tags  = concat(["elm-infra", "elm-infra-${var.name}"], var.tags)
  manager_tags = concat(local.common_tags, ["elm-infra-manager"])
  worker_tags  = concat(local.common_tags, ["elm-infra-worker"])
}

resource "digitalocean_vpc" "cluster" {
  name        = "elm-infra-${var.name}"
  region      = var.region
  ip_range    = var.vpc_cidr
  description = "elm-infra cluster ${var.name}"
}

resource "digitalocean_ssh_key" "operator" {
  name       = "elm-infra-${var.name}"
  public_key = var.ssh_public_key
}

resource "digitalocean_droplet" "manager" {
  count      = var.manager_count
  name       = "${var.name}-manager-${count.index + 1}"
  region     = var.region
  image      = var.image
  size       = var.manager_size
  vpc_uuid   = digitalocean_vpc.cluster.id
  ssh_keys   = [digitalocean_ssh_key.operator.fingerprint]
  tags       = local.manager_tags
  monitoring = true
}

resource "digitalocean_droplet" "worker" {
  count      = var.worker_count
  name       = "${var.name}-worker-${count.index + 1}"
  region     = var.region
  image      = var.image
  size       = var.worker_size
  vpc_uuid   = digitalocean_vpc.cluster.id
  ssh_keys   = [digitalocean_ssh_key.operator.fingerprint]
  tags       = local.worker_tags
  monitoring = true
}

locals {
  all_droplet_ids    = concat(digitalocean_droplet.manager[*].id, digitalocean_droplet.worker[*].id)
  worker_droplet_ids = digitalocean_droplet.worker[*].id
}

# Every node: SSH from the operators, anything from inside the VPC (Nomad, Consul, Traefik to the
# services), and any traffic out (package mirrors, the image registry).
resource "digitalocean_firewall" "cluster" {
  name        = "elm-infra-${var.name}-cluster"
  droplet_ids = local.all_droplet_ids

  inbound_rule {
    protocol         = "tcp"
    port_range       = tostring(var.ssh_port)
    source_addresses = var.ssh_allowed_cidrs
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

# Workers run Traefik: the public HTTP and HTTPS entrypoints.
resource "digitalocean_firewall" "web" {
  name        = "elm-infra-${var.name}-web"
  droplet_ids = local.worker_droplet_ids

  dynamic "inbound_rule" {
    for_each = ["80", "443"]
    content {
      protocol         = "tcp"
      port_range       = inbound_rule.value
      source_addresses = ["0.0.0.0/0", "::/0"]
    }
  }
}
