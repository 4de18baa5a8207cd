# The same outputs as iac/digitalocean, so the inventory is built the same way for both targets.
locals {
  host_ip = { for n, c in docker_container.host : n => c.network_data[0].ip_address }
}

output "manager_names" {
  value = local.manager_names
}

output "worker_names" {
  value = local.worker_names
}

# The machine running Docker reaches the hosts at their network address directly.
output "manager_public_ips" {
  value = [for n in local.manager_names : local.host_ip[n]]
}

output "worker_public_ips" {
  value = [for n in local.worker_names : local.host_ip[n]]
}

output "manager_private_ips" {
  value = [for n in local.manager_names : local.host_ip[n]]
}

output "worker_private_ips" {
  value = [for n in local.worker_names : local.host_ip[n]]
}

# Where SSH reaches each host from the operator's machine: a loopback port.
output "manager_ssh" {
  value = [for n in local.manager_names : { host = "127.0.0.1", port = local.hosts[n].ssh_port }]
}

output "worker_ssh" {
  value = [for n in local.worker_names : { host = "127.0.0.1", port = local.hosts[n].ssh_port }]
}

output "network_name" {
  value = docker_network.cluster.name
}
