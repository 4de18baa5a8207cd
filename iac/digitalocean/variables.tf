variable "do_token" {
  description = "DigitalOcean API token. Set through TF_VAR_do_token; never written to a file."
  type        = string
  sensitive   = true
}

variable "name" {
  description = "Prefix of every resource name: the cluster's target name, e.g. production."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", var.name))
    error_message = "The name must be lower-case letters, digits and '-', at most 32 characters."
  }
}

variable "region" {
  description = "DigitalOcean region slug, e.g. fra1."
  type        = string
}

variable "image" {
  description = "Droplet image slug, e.g. debian-12-x64."
  type        = string
}

variable "hosts" {
  description = <<-EOT
    Every droplet, by its stable name (<name>-manager-<n>, <name>-worker-<n>) as elm-infra's host
    planner keeps it: adding or removing one host changes no other.
  EOT
  type = map(object({
    role = string
  }))
  validation {
    condition = alltrue([
      for n, h in var.hosts : contains(["manager", "worker"], h.role) && can(regex("-${h.role}-[1-9][0-9]*$", n))
    ])
    error_message = "Each host is named <name>-manager-<n> or <name>-worker-<n> and has that role."
  }
  validation {
    condition     = contains([1, 3, 5, 7], length([for h in var.hosts : h if h.role == "manager"]))
    error_message = "The manager count must be 1, 3, 5 or 7 (odd, so the servers keep a quorum)."
  }
  validation {
    condition     = length([for h in var.hosts : h if h.role == "worker"]) >= 1
    error_message = "At least one worker runs the services and Traefik."
  }
}

variable "manager_size" {
  description = "Droplet size slug of the managers."
  type        = string
  default     = "s-1vcpu-2gb"
}

variable "worker_size" {
  description = "Droplet size slug of the workers."
  type        = string
  default     = "s-2vcpu-4gb"
}

variable "ssh_public_key" {
  description = "OpenSSH public key put into root's authorized_keys on every droplet."
  type        = string
  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp[0-9]+) [A-Za-z0-9+/=]+", var.ssh_public_key))
    error_message = "The SSH public key must be one OpenSSH public key line (ssh-ed25519 AAAA...)."
  }
}

variable "ssh_key_fingerprint" {
  description = "The MD5 fingerprint of ssh_public_key when the account has it already (cluster.yaml ssh.accountKeyFingerprint): used instead of uploading the key again."
  type        = string
  default     = null
  validation {
    condition     = var.ssh_key_fingerprint == null || can(regex("^([0-9a-f]{2}:){15}[0-9a-f]{2}$", var.ssh_key_fingerprint))
    error_message = "The fingerprint is the key's MD5 as DigitalOcean lists it: 16 hex pairs joined by ':'."
  }
}

variable "ssh_port" {
  description = "Port sshd listens on (the image's default is 22)."
  type        = number
  default     = 22
}

variable "admin_cidrs" {
  description = "The operators' addresses: the only ones that reach SSH (cluster.yaml adminCidrs and each operator's adminCidr). No default."
  type        = list(string)
  validation {
    condition     = length(var.admin_cidrs) > 0 && alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "List the operators' address ranges (like 203.0.113.7/32); the whole internet is refused."
  }
}

variable "vpc_cidr" {
  description = "Private range of the cluster's VPC; the cluster's own ports are open inside it only."
  type        = string
  default     = "10.110.0.0/20"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "The VPC range must be a CIDR block like 10.110.0.0/20."
  }
}

variable "package_data_host" {
  description = "The worker the package data volume is attached to (elm-infra keeps it while it exists)."
  type        = string
  default     = null
}

variable "package_data_size" {
  description = "Size of the package data volume in GiB (it can grow, never shrink)."
  type        = number
  default     = 20
}

variable "tags" {
  description = "Extra tags put on every droplet (lower-case letters, digits, ':', '-', '_')."
  type        = list(string)
  default     = []
}

variable "dns_zone" {
  description = "A domain hosted on DigitalOcean (cluster.yaml dns.zone) where every hostname gets an A record for the load balancer; null: the user makes the records."
  type        = string
  default     = null
}

variable "dns_records" {
  description = "Every hostname's A record in dns_zone: hostname => its name inside the zone (@ for the apex)."
  type        = map(string)
  default     = {}
}

variable "operator_ssh_keys" {
  description = "The listed operators' OpenSSH public keys (cluster.yaml operators' sshKey), put into root's authorized_keys on every droplet beside ssh_public_key when it is created; the playbook keeps the list afterwards."
  type        = list(string)
  default     = []
}
