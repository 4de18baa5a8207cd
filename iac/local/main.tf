# Everything carries the label elm-infra.target=<name>: destroy and the tests list by it.
locals {
  # Workers answer to one more DNS name on the network: the load balancer finds them through it.
  workers_alias = "${var.name}-workers"
}

data "docker_image" "host" {
  name = var.image
}

data "docker_image" "lb" {
  name = var.lb_image
}

# The stand-in for the VPC. Hosts and the load balancer have static addresses; Docker places
# anything else (test containers) in ip_range only, so it never takes a future host's address.
resource "docker_network" "cluster" {
  name   = "${var.name}-net"
  driver = "bridge"
  ipam_config {
    subnet   = var.network_subnet
    ip_range = var.network_ip_range
    gateway  = cidrhost(var.network_subnet, 1)
  }
  labels {
    label = "elm-infra.target"
    value = var.name
  }
}

# A nested Docker engine needs a real filesystem under /var/lib/docker (overlay on overlay fails).
resource "docker_volume" "docker_data" {
  for_each = var.hosts
  name     = "${each.key}-docker"
  labels {
    label = "elm-infra.target"
    value = var.name
  }
}

# The package data's block storage, as a droplet's volume is in production: it outlives every
# host, and it is attached to one worker at a time (package_data_host), which formats it when
# blank and mounts it by its device id (playbooks/roles/package_data). The stand-in: a sparse file
# on this machine behind a loop device (this machine's kernel keeps it attached whatever happens
# to a host container); "attaching" it makes its device node in the holder's container, and
# "detaching" unmounts it there and removes the node. A new holder (a move, or the old one lost)
# replaces the attachment, as digitalocean_volume_attachment is replaced there.
locals {
  package_data_host   = coalesce(var.package_data_host, try(sort([for n, h in var.hosts : n if h.role == "worker"])[0], null))
  package_data_file   = abspath("${path.root}/../volumes/package-data.img")
  package_data_device = "/dev/disk/by-id/elm-infra-${var.name}-package-data"
}

resource "terraform_data" "package_data_volume" {
  input = { file = local.package_data_file }
  # The file stays where the first bring-up made it: another working copy on this machine (a
  # second operator's folder) plans from its own path.root, and would otherwise record its own
  # path, where no file is, for the attachment and destroy to use.
  lifecycle {
    ignore_changes = [input]
  }
  provisioner "local-exec" {
    interpreter = ["bash", "-c"]
    command     = "set -e; mkdir -p \"$(dirname \"$FILE\")\"; [ -e \"$FILE\" ] || truncate -s ${var.package_data_size_mb}M \"$FILE\""
    environment = { FILE = self.input.file }
  }
  provisioner "local-exec" {
    when        = destroy
    interpreter = ["bash", "-c"]
    command     = "for d in $(losetup -j \"$FILE\" -O NAME -n 2>/dev/null); do losetup -d \"$d\" || true; done; rm -f \"$FILE\""
    environment = { FILE = self.input.file }
  }
}

resource "terraform_data" "package_data_attachment" {
  count            = local.package_data_host == null ? 0 : 1
  triggers_replace = [local.package_data_host, docker_container.host[local.package_data_host].id]
  input = {
    host   = local.package_data_host
    file   = terraform_data.package_data_volume.output.file
    device = local.package_data_device
    path   = var.package_data_path
  }
  # The file's loop device (the one it has, else a new one), its node made in the holder.
  provisioner "local-exec" {
    interpreter = ["bash", "-c"]
    command     = <<-EOT
      set -euo pipefail
      loop=$(losetup -j "$FILE" -O NAME -n | head -n 1)
      [ -n "$loop" ] || loop=$(losetup -f --show "$FILE")
      major=$((16#$(stat -c %t "$loop"))); minor=$((16#$(stat -c %T "$loop")))
      docker exec "$HOST" sh -c "mkdir -p \"\$(dirname $DEVICE)\" && rm -f $DEVICE && mknod -m 600 $DEVICE b $major $minor"
    EOT
    environment = { FILE = self.input.file, HOST = self.input.host, DEVICE = self.input.device }
  }
  # Detached: unmounted in the holder and its node removed, when the holder still runs.
  provisioner "local-exec" {
    when        = destroy
    interpreter = ["bash", "-c"]
    command     = "docker exec \"$HOST\" sh -c \"if mountpoint -q $MOUNT; then umount $MOUNT; fi; rm -f $DEVICE\" 2>/dev/null || true"
    environment = { HOST = self.input.host, DEVICE = self.input.device, MOUNT = self.input.path }
  }
}

# Where a worker keeps the device nodes of the volumes attached to it (/dev/disk/by-id).
resource "docker_volume" "devices" {
  for_each = { for n, h in var.hosts : n => h if h.role == "worker" }
  name     = "${each.key}-devices"
  labels {
    label = "elm-infra.target"
    value = var.name
  }
}

resource "docker_container" "host" {
  for_each    = var.hosts
  name        = each.key
  hostname    = each.key
  image       = data.docker_image.host.id
  command     = var.command
  restart     = "unless-stopped"
  stop_signal = var.stop_signal
  must_run    = true

  # What systemd and a nested dockerd need. `--privileged` is refused on machines whose bounding
  # set lacks CAP_SYS_RESOURCE, so every other capability is added instead.
  capabilities {
    add = ["ALL"]
    # Written as Docker reports it back: "SYS_RESOURCE" would differ from the state at every plan
    # and replace every host.
    drop = ["CAP_SYS_RESOURCE"]
  }
  security_opts = ["seccomp=unconfined", "apparmor=unconfined"]
  cgroupns_mode = "host"
  tmpfs = {
    "/run"      = "rw"
    "/run/lock" = "rw"
  }

  volumes {
    host_path      = "/sys/fs/cgroup"
    container_path = "/sys/fs/cgroup"
    read_only      = false
  }

  volumes {
    volume_name    = docker_volume.docker_data[each.key].name
    container_path = "/var/lib/docker"
  }

  # A worker may be given the package data's block device (a loop device, major 7) while it runs,
  # as a droplet is given a volume: the device node is made in it, and this rule lets it be used.
  # The node lives in a volume of its own, so it is still there after the host restarts, as an
  # attached volume is after a droplet reboots.
  device_cgroup_rules = each.value.role == "worker" ? ["b 7:* rwm"] : null
  dynamic "volumes" {
    for_each = each.value.role == "worker" ? [docker_volume.devices[each.key].name] : []
    content {
      volume_name    = volumes.value
      container_path = dirname(local.package_data_device)
    }
  }

  networks_advanced {
    name         = docker_network.cluster.id
    ipv4_address = each.value.private_ip
    aliases      = each.value.role == "worker" ? [each.key, local.workers_alias] : [each.key]
  }

  ports {
    internal = 22
    external = each.value.ssh_port
    ip       = "127.0.0.1"
  }

  dynamic "upload" {
    for_each = var.ssh_public_key == "" ? [] : [var.ssh_public_key]
    content {
      file        = "/root/.ssh/authorized_keys"
      # The target's key and every listed operator's: an operator who logs in with their own key
      # reaches a host this apply creates before the playbook (which keeps the list) has run.
      content     = "${join("\n", concat([trimspace(upload.value)], var.operator_ssh_keys))}\n"
      permissions = "0600"
    }
  }

  labels {
    label = "elm-infra.target"
    value = var.name
  }
  labels {
    label = "elm-infra.role"
    value = each.value.role
  }

  lifecycle {
    # The keys are the first boot's (as a droplet's user_data): an operator added or removed
    # later must not replace running hosts; the playbook keeps authorized_keys.
    ignore_changes = [upload]
  }
}

# The load balancer users reach: HAProxy in front of every worker's Traefik. It finds the workers
# through Docker's DNS (the workers' alias), so adding or removing a worker changes nothing here.
resource "docker_container" "lb" {
  name    = "${var.name}-lb"
  image   = data.docker_image.lb.id
  command = ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
  restart = "unless-stopped"
  # SIGUSR1 is HAProxy's soft stop: open connections finish (at most hard-stop-after).
  stop_signal = "SIGUSR1"
  must_run    = true

  networks_advanced {
    name         = docker_network.cluster.id
    ipv4_address = var.lb_private_ip
  }

  ports {
    internal = 80
    external = var.http_port
    ip       = "127.0.0.1"
  }
  ports {
    internal = 443
    external = var.https_port
    ip       = "127.0.0.1"
  }

  upload {
    file = "/etc/haproxy/haproxy.cfg"
    content = templatefile("${path.module}/haproxy.cfg.tftpl", {
      name            = var.name
      workers_alias   = local.workers_alias
      max_workers     = var.max_workers
      hard_stop_after = var.hard_stop_after
    })
  }

  labels {
    label = "elm-infra.target"
    value = var.name
  }
  labels {
    label = "elm-infra.role"
    value = "load-balancer"
  }
}

# The local target's ACME CA: Pebble, Let's Encrypt's test server, with its challenge test server
# as the DNS Pebble asks: the target's stand-in for the zone. It answers nothing for a name until
# its record is made (below, as iac/digitalocean makes them in the zone): each hostname resolves
# to the load balancer, so Pebble's HTTP-01 requests take the path a real CA's do: load balancer,
# a worker's Traefik, the issuer job. Pebble makes a new root at each start: bring-up reads the
# one it serves and the target trusts that.
data "docker_image" "pebble" {
  name = var.pebble_image
}

resource "docker_container" "challtestsrv" {
  name    = "${var.name}-acme-dns"
  image   = data.docker_image.pebble.id
  restart = "unless-stopped"
  # Only its DNS server (the other challenge servers off: an empty address, as `-flag=`), and no
  # default answer: a name without a record has no address, as in a real zone.
  command = [
    "pebble-challtestsrv", "-defaultIPv4=", "-defaultIPv6=",
    "-dnsserver", ":8053", "-management", ":8055",
    "-http01=", "-https01=", "-tlsalpn01=", "-doh=",
  ]
  must_run = true

  networks_advanced {
    name         = docker_network.cluster.id
    ipv4_address = var.acme_dns_private_ip
  }

  # Its DNS on this machine's loopback: bring-up asks it whether every hostname points at the
  # load balancer yet (never this machine's own resolver).
  dynamic "ports" {
    for_each = ["udp", "tcp"]
    content {
      internal = 8053
      external = var.dns_port
      ip       = "127.0.0.1"
      protocol = ports.value
    }
  }

  labels {
    label = "elm-infra.target"
    value = var.name
  }
  labels {
    label = "elm-infra.role"
    value = "acme-dns"
  }
}

# Every hostname's A record in the test DNS, made through its management API (inside its
# container: nothing published), one resource per record as digitalocean_record is. A new
# container (its records are in memory) makes them again; a hostname gone deletes its record.
resource "terraform_data" "dns_record" {
  for_each = toset(var.dns_hostnames)
  triggers_replace = {
    host      = each.key
    address   = var.lb_private_ip
    container = docker_container.challtestsrv.name
    id        = docker_container.challtestsrv.id
  }

  provisioner "local-exec" {
    interpreter = [
      "docker", "exec", self.triggers_replace.container, "curl", "-sS", "--fail", "--max-time", "5",
      "--retry", "10", "--retry-connrefused", "--retry-delay", "1", "http://localhost:8055/add-a", "-d",
    ]
    command = jsonencode({ host = self.triggers_replace.host, addresses = [self.triggers_replace.address] })
  }

  provisioner "local-exec" {
    when       = destroy
    on_failure = continue
    interpreter = [
      "docker", "exec", self.triggers_replace.container, "curl", "-sS", "--fail", "--max-time", "5",
      "http://localhost:8055/clear-a", "-d",
    ]
    command = jsonencode({ host = self.triggers_replace.host })
  }
}

resource "docker_container" "pebble" {
  name     = "${var.name}-pebble"
  image    = data.docker_image.pebble.id
  restart  = "unless-stopped"
  command  = ["pebble", "-config", "/etc/pebble/config.json", "-dnsserver", "${var.acme_dns_private_ip}:8053"]
  must_run = true
  # No sleeping before validations, no refused nonces: the issuance is as fast as the path allows.
  env = ["PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"]

  networks_advanced {
    name         = docker_network.cluster.id
    ipv4_address = var.pebble_private_ip
    aliases      = ["pebble"]
  }

  upload {
    file = "/etc/pebble/config.json"
    content = jsonencode({
      pebble = {
        listenAddress           = "0.0.0.0:14000"
        managementListenAddress = "0.0.0.0:15000"
        certificate             = "/etc/pebble/cert.pem"
        privateKey              = "/etc/pebble/key.pem"
        httpPort                = 80
        tlsPort                 = 443
        ocspResponderURL        = ""
        profiles = {
          default = { description = "elm-infra local", validityPeriod = var.acme_certificate_lifetime }
        }
      }
    })
  }

  labels {
    label = "elm-infra.target"
    value = var.name
  }
  labels {
    label = "elm-infra.role"
    value = "acme"
  }
  depends_on = [docker_container.challtestsrv]
}

# The stand-in for HashiCorp's apt repository (src/tools/agents-apt.sh builds it, signed, from the
# pinned Consul and Nomad): a static HTTP server on the target's network only, not published on
# this machine. The hosts install the agents from it with the tasks production runs.
data "docker_image" "apt" {
  name = var.apt_image
}

resource "docker_container" "apt" {
  name     = "${var.name}-apt"
  image    = data.docker_image.apt.id
  restart  = "unless-stopped"
  command  = ["python3", "-m", "http.server", "80", "--directory", "/srv/apt"]
  must_run = true

  volumes {
    host_path      = var.apt_repository_path
    container_path = "/srv/apt"
    read_only      = true
  }

  networks_advanced {
    name         = docker_network.cluster.id
    ipv4_address = var.apt_private_ip
  }

  labels {
    label = "elm-infra.target"
    value = var.name
  }
  labels {
    label = "elm-infra.role"
    value = "apt"
  }
}

# The local target's private registry (Debian's docker-registry, images/registry): TLS from a CA
# it makes at its first start, htpasswd auth (bring-up writes the user; empty until then), on the
# network for the workers' pulls and on loopback for the operator's pushes. Images and the CA
# live in a volume, so replacing the container loses neither.
data "docker_image" "registry" {
  name = var.registry_image
}

resource "docker_volume" "registry" {
  name = "${var.name}-registry"
  labels {
    label = "elm-infra.target"
    value = var.name
  }
}

resource "docker_container" "registry" {
  name     = "${var.name}-registry"
  image    = data.docker_image.registry.id
  restart  = "unless-stopped"
  must_run = true
  # The names its certificate carries: the workers pull at its address, the operator pushes on loopback.
  env = ["REGISTRY_TLS_NAMES=IP:${var.registry_private_ip},IP:127.0.0.1,DNS:localhost"]

  volumes {
    volume_name    = docker_volume.registry.name
    container_path = "/var/lib/docker-registry"
  }

  networks_advanced {
    name         = docker_network.cluster.id
    ipv4_address = var.registry_private_ip
  }

  ports {
    internal = 5000
    external = var.registry_port
    ip       = "127.0.0.1"
  }

  labels {
    label = "elm-infra.target"
    value = var.name
  }
  labels {
    label = "elm-infra.role"
    value = "registry"
  }
}
