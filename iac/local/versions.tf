# The local target: Docker containers that boot like VMs (systemd, sshd, a nested Docker engine)
# stand in for droplets. Pinned to the provider version elm-infra installs (src/tools/versions.json).
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    docker = {
      source  = "kreuzwerker/docker"
      version = "4.6.0"
    }
  }
}

# The engine comes from DOCKER_HOST, else the local socket.
provider "docker" {}
