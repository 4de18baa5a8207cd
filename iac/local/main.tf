locals {
  manager_names = [for i in range(var.manager_count) : "${var.name}-manager-${i + 1}"]
  worker_names  = [for i in range(var.worker_count) : "${var.name}-worker-${i + 1}"]
  # Every host, keyed by container name; SSH ports are numbered managers first, then workers.
  hosts = merge(
    { for i, n in local.manager_names : n => { role = "manager", index = i, ssh_port = var.ssh_base_port + i } },
    { for i, n in local.worker_names : n => { role = "worker", index = i, ssh_port = var.ssh_base_port + var.manager_count + i } },
  )
}

data "docker_image" "host" {
  name = var.image
}

resource "docker_network" "cluster" {
  name   = "${var.name}-net"
  driver = "bridge"
  labels {
    label = "elm-infra.target"
    value = var.name
  }

  dynamic "ipam_config" {
    for_each = var.network_subnet == null ? [] : [var.network_subnet]
    content {
      subnet = ipam_config.value
    }
  }
}

# A nested Docker engine needs a real filesystem under /var/lib/docker (overlay on overlay fails).
resource "docker_volume" "docker_data" {
  for_each = local.hosts
  name     = "${each.key}-docker"
  labels {
    label = "elm-infra.target"
    value = var.name
  }
}

resource "docker_container" "host" {
  for_each    = local.hosts
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
    add  = ["ALL"]
    drop = ["SYS_RESOURCE"]
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

  networks_advanced {
    name    = docker_network.cluster.id
    aliases = [each.key]
  }

  ports {
    internal = 22
    external = each.value.ssh_port
    ip       = "127.0.0.1"
  }

  # Traefik's entrypoints on the first worker are what a user reaches.
  dynamic "ports" {
    for_each = each.value.role == "worker" && each.value.index == 0 ? { 80 = var.http_port, 443 = var.https_port } : {}
    content {
      internal = ports.key
      external = ports.value
      ip       = "127.0.0.1"
    }
  }

  dynamic "upload" {
    for_each = var.ssh_public_key == "" ? [] : [var.ssh_public_key]
    content {
      file        = "/root/.ssh/authorized_keys"
      content     = "${trimspace(upload.value)}\n"
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
}
