variable "name" {
  description = "Prefix of every container, volume and network: the cluster's target name, e.g. local."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", var.name))
    error_message = "The name must be lower-case letters, digits and '-', at most 32 characters."
  }
}

variable "image" {
  description = "Host image that boots like a VM, e.g. elm-infra/host:latest. Must exist locally."
  type        = string
}

variable "manager_count" {
  description = "Nomad/Consul servers. Odd, so the servers keep a quorum."
  type        = number
  default     = 1
  validation {
    condition     = var.manager_count >= 0 && var.manager_count <= 7
    error_message = "The manager count must be between 0 and 7."
  }
}

variable "worker_count" {
  description = "Nomad clients that run the services and Traefik."
  type        = number
  default     = 1
  validation {
    condition     = var.worker_count >= 0 && var.worker_count <= 50
    error_message = "The worker count must be between 0 and 50."
  }
}

variable "network_subnet" {
  description = "Subnet of the hosts' Docker network (the stand-in for the VPC); null lets Docker choose."
  type        = string
  default     = null
}

variable "ssh_base_port" {
  description = "Loopback port of the first host's sshd; the others follow (managers, then workers)."
  type        = number
  default     = 2200
}

variable "http_port" {
  description = "Loopback port published to the first worker's port 80 (Traefik's web entrypoint)."
  type        = number
  default     = 8080
}

variable "https_port" {
  description = "Loopback port published to the first worker's port 443."
  type        = number
  default     = 8443
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
