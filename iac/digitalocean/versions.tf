# Pinned to the provider version elm-infra installs (src/tools/versions.json). 1.23.0 is the newest
# release the Go module proxy can address (2.x's go.mod lacks the /v2 suffix), so elm-infra builds
# it from source where no release archive is reachable. The 1.x line has droplets, VPCs, tags,
# firewalls, volumes, IPv4 load balancers and floating IPs, which this module is limited to; it has
# no dual-stack (IPv6) load balancer, no `digitalocean_reserved_ip` (floating IPs under their
# current name) and cannot create a container registry (it sends no subscription tier). With
# internet access, a 2.x release from the OpenTofu registry runs this same module: see the README's
# "A current provider" under Production.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "1.23.0"
    }
  }
}

# The token comes from TF_VAR_do_token (set by elm-infra from secrets/<target>.yaml), never a file.
provider "digitalocean" {
  token = var.do_token
}
