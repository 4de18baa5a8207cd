# The same outputs as iac/local, so the inventory is built the same way for both targets.
output "manager_names" {
  value = digitalocean_droplet.manager[*].name
}

output "worker_names" {
  value = digitalocean_droplet.worker[*].name
}

output "manager_public_ips" {
  value = digitalocean_droplet.manager[*].ipv4_address
}

output "worker_public_ips" {
  value = digitalocean_droplet.worker[*].ipv4_address
}

output "manager_private_ips" {
  value = digitalocean_droplet.manager[*].ipv4_address_private
}

output "worker_private_ips" {
  value = digitalocean_droplet.worker[*].ipv4_address_private
}

# Where SSH reaches each node from the operator's machine.
output "manager_ssh" {
  value = [for d in digitalocean_droplet.manager : { host = d.ipv4_address, port = var.ssh_port }]
}

output "worker_ssh" {
  value = [for d in digitalocean_droplet.worker : { host = d.ipv4_address, port = var.ssh_port }]
}

output "vpc_id" {
  value = digitalocean_vpc.cluster.id
}
