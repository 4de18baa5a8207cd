# The same outputs as iac/local: bring-up builds the inventory from these.
output "hosts" {
  description = "Every droplet: its role, its VPC address and where SSH reaches it."
  value = {
    for n, d in digitalocean_droplet.host : n => {
      role       = var.hosts[n].role
      private_ip = d.ipv4_address_private
      ssh_host   = d.ipv4_address
      ssh_port   = var.ssh_port
    }
  }
}

output "load_balancer" {
  description = "What users reach: the load balancer's public address."
  value = {
    host       = digitalocean_loadbalancer.web.ip
    http_port  = 80
    https_port = 443
  }
}

# Where every hostname's A record points (and the local target's test DNS answers).
output "dns" {
  value = {
    address = digitalocean_loadbalancer.web.ip
  }
}

# Where the package data volume is: its worker, and the device the playbook mounts.
output "package_data" {
  value = {
    host   = local.package_data_host
    device = "/dev/disk/by-id/scsi-0DO_Volume_${digitalocean_volume.package_data.name}"
  }
}

output "vpc_id" {
  value = digitalocean_vpc.cluster.id
}
