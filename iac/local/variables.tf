variable "name" {
  description = "Prefix of every container, volume and network: the cluster's target name, e.g. local."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", var.name))
    error_message = "The name must be lower-case letters, digits and '-', at most 32 characters."
  }
}

variable "hosts" {
  description = <<-EOT
    Every host, by its stable name (<name>-manager-<n>, <name>-worker-<n>), as elm-infra's host
    planner derives it from the number: its role, loopback SSH port and static address. Adding or
    removing one host changes no other entry.
  EOT
  type = map(object({
    role       = string
    ssh_port   = number
    private_ip = string
  }))
  validation {
    condition = alltrue([
      for n, h in var.hosts : contains(["manager", "worker"], h.role) && can(regex("-${h.role}-[1-9][0-9]*$", n))
    ])
    error_message = "Each host is named <name>-manager-<n> or <name>-worker-<n> and has that role."
  }
  validation {
    condition     = length(distinct([for h in var.hosts : h.ssh_port])) == length(var.hosts) && length(distinct([for h in var.hosts : h.private_ip])) == length(var.hosts)
    error_message = "Every host needs its own SSH port and address."
  }
}

variable "image" {
  description = "Host image that boots like a VM, e.g. elm-infra/host:latest. Must exist locally."
  type        = string
}

variable "lb_image" {
  description = "The load balancer's image (HAProxy from Debian), made by images/base/build.sh lb."
  type        = string
  default     = "elm-infra/lb:latest"
}

variable "network_subnet" {
  description = "Subnet of the hosts' Docker network (the stand-in for the VPC): /24 or larger."
  type        = string
  default     = "10.213.0.0/24"
  validation {
    condition     = can(cidrhost(var.network_subnet, 255)) && tonumber(split("/", var.network_subnet)[1]) <= 24
    error_message = "The subnet must be an IPv4 range of /24 or larger, like 10.213.0.0/24."
  }
}

variable "network_ip_range" {
  description = "Part of the subnet where Docker places containers without a static address (never a host's)."
  type        = string
  default     = "10.213.0.224/27"
}

variable "lb_private_ip" {
  description = "The load balancer's address on the network."
  type        = string
  default     = "10.213.0.2"
}

variable "http_port" {
  description = "Loopback port published to the load balancer's port 80 (the workers' Traefik web entrypoint)."
  type        = number
  default     = 8080
}

variable "https_port" {
  description = "Loopback port published to the load balancer's port 443 (TLS passed through to Traefik)."
  type        = number
  default     = 8443
}

variable "max_workers" {
  description = "Worker slots the load balancer keeps for the workers it discovers through DNS."
  type        = number
  default     = 50
}

variable "hard_stop_after" {
  description = "How long a stopping load balancer lets open connections finish."
  type        = string
  default     = "30s"
}

variable "package_data_host" {
  description = "The worker the package data volume is attached to (elm-infra keeps it while it exists)."
  type        = string
  default     = null
}

variable "package_data_size_mb" {
  description = "Size of the package data volume's file in MiB (sparse: it takes what is written)."
  type        = number
  default     = 1024
}

variable "package_data_path" {
  description = "Where the holder mounts the package data volume."
  type        = string
  default     = "/srv/package-data"
}

variable "ssh_public_key" {
  description = "OpenSSH public key written to root's authorized_keys in every host; empty for none."
  type        = string
  default     = ""
}

variable "command" {
  description = "Command of the host containers; null keeps the image's (systemd for the host image)."
  type        = list(string)
  default     = null
}

variable "stop_signal" {
  description = "Signal that shuts a host down cleanly: systemd as PID 1 halts on SIGRTMIN+3."
  type        = string
  default     = "SIGRTMIN+3"
}

variable "pebble_image" {
  description = "Pebble and its challenge test server (the local ACME CA), made by images/base/build.sh pebble."
  type        = string
  default     = "elm-infra/pebble:latest"
}

variable "pebble_private_ip" {
  description = "Pebble's address on the network (its ACME directory is https://pebble:14000/dir)."
  type        = string
  default     = "10.213.0.3"
}

variable "acme_dns_private_ip" {
  description = "The challenge test server's address: the DNS Pebble resolves every name with."
  type        = string
  default     = "10.213.0.4"
}

variable "dns_port" {
  description = "Loopback port (UDP and TCP) published to the test DNS's port 8053 (cluster.yaml ports.dns)."
  type        = number
  default     = 8053
}

variable "dns_hostnames" {
  description = "Every service hostname: the test DNS answers each with the load balancer's address."
  type        = list(string)
  default     = []
}

variable "acme_certificate_lifetime" {
  description = "How long the certificates Pebble issues last, in seconds."
  type        = number
  default     = 3600
}

variable "apt_image" {
  description = "Image of the apt repository's static HTTP server (python3), made by images/base/build.sh base."
  type        = string
  default     = "elm-infra/base:latest"
}

variable "apt_private_ip" {
  description = "The apt repository's address on the network (the hosts' apt source is http://<it>)."
  type        = string
  default     = "10.213.0.6"
}

variable "apt_repository_path" {
  description = "Folder on this machine holding the signed apt repository (src/tools/agents-apt.sh prints it)."
  type        = string
  validation {
    condition     = startswith(var.apt_repository_path, "/")
    error_message = "The apt repository's folder must be an absolute path."
  }
}

variable "registry_image" {
  description = "The private registry's image (Debian's docker-registry), made by images/base/build.sh registry."
  type        = string
  default     = "elm-infra/registry:latest"
}

variable "registry_private_ip" {
  description = "The registry's address on the network: the workers pull from <address>:5000."
  type        = string
  default     = "10.213.0.5"
}

variable "registry_port" {
  description = "Loopback port published to the registry's port 5000: where the operator pushes."
  type        = number
  default     = 15000
}

variable "operator_ssh_keys" {
  description = "The listed operators' OpenSSH public keys (cluster.yaml operators' sshKey), put into root's authorized_keys in every host beside ssh_public_key when it is created; the playbook keeps the list afterwards."
  type        = list(string)
  default     = []
}
