# The same outputs as iac/digitalocean: bring-up builds the inventory from these.
output "hosts" {
  description = "Every host: its role, its address on the cluster's network and where SSH reaches it."
  value = {
    for n, c in docker_container.host : n => {
      role       = var.hosts[n].role
      private_ip = c.network_data[0].ip_address
      ssh_host   = "127.0.0.1"
      ssh_port   = var.hosts[n].ssh_port
    }
  }
}

output "load_balancer" {
  description = "What users reach: the load balancer's loopback ports."
  value = {
    host       = "127.0.0.1"
    http_port  = var.http_port
    https_port = var.https_port
  }
  depends_on = [docker_container.lb]
}

# Where every hostname's A record points: the load balancer's address on the network.
output "dns" {
  value = {
    address = var.lb_private_ip
  }
  depends_on = [terraform_data.dns_record]
}

output "network_name" {
  value = docker_network.cluster.name
}

output "acme" {
  description = "The local ACME CA: its directory, the address its name resolves to, its container."
  value = {
    directory = "https://pebble:14000/dir"
    hosts     = { pebble = var.pebble_private_ip }
    container = docker_container.pebble.name
  }
}

output "apt" {
  description = "The stand-in for HashiCorp's apt repository: its URL on the network, its container."
  value = {
    url       = "http://${var.apt_private_ip}"
    container = docker_container.apt.name
  }
}

output "registry" {
  description = "The private registry: where the workers pull, where the operator pushes, its container."
  value = {
    pull      = "${var.registry_private_ip}:5000"
    push      = "127.0.0.1:${var.registry_port}"
    container = docker_container.registry.name
  }
}

# Where the package data volume is: its worker, and the device the playbook mounts.
output "package_data" {
  value = {
    host   = local.package_data_host
    device = local.package_data_device
  }
  depends_on = [terraform_data.package_data_attachment]
}
