# Pinned to the provider version elm-infra installs (src/tools/versions.json): 1.22.2 is the one
# release that can be built offline from the Go module proxy, so only resources it knows are used.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "1.22.2"
    }
  }
}

# The token comes from TF_VAR_do_token (set by elm-infra from secrets/<target>.yaml), never a file.
provider "digitalocean" {
  token = var.do_token
}
