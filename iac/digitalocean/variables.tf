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

variable "manager_count" {
  description = "Nomad/Consul servers. Odd, so the servers keep a quorum."
  type        = number
  default     = 3
  validation {
    condition     = var.manager_count >= 1 && var.manager_count <= 7 && var.manager_count % 2 == 1
    error_message = "The manager count must be 1, 3, 5 or 7."
  }
}

variable "worker_count" {
  description = "Nomad clients that run the services and Traefik."
  type        = number
  default     = 2
  validation {
    condition     = var.worker_count >= 1 && var.worker_count <= 50
    error_message = "The worker count must be between 1 and 50."
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

variable "ssh_port" {
  description = "Port sshd listens on (the image's default is 22)."
  type        = number
  default     = 22
}

variable "ssh_allowed_cidrs" {
  description = "Addresses allowed to reach port 22 (the operators' networks)."
  type        = list(string)
  default     = ["0.0.0.0/0", "::/0"]
}

variable "vpc_cidr" {
  description = "Private range of the cluster's VPC; all traffic inside it is allowed."
  type        = string
  default     = "10.110.0.0/20"
  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "The VPC range must be a CIDR block like 10.110.0.0/20."
  }
}

variable "tags" {
  description = "Extra tags put on every droplet (lower-case letters, digits, ':', '-', '_')."
  type        = list(string)
  default     = []
}
