#!/usr/bin/env bash
# Builds the locally made base images (no registry can be reached, so nothing is pulled):
#   elm-infra/tiny:<hash>  busybox-static in an empty image, for test apps
# Each tag is a hash of its recipe, so an image is rebuilt only when its recipe changes; the
# tag ":latest" points at the current one.
# Usage: images/base/build.sh [tiny|all]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[images] %s\n' "$*" >&2; }

recipe_hash() { cat "$@" | sha256sum | cut -c1-12; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

build_tiny() {
  local tag="elm-infra/tiny:$(recipe_hash "$here/build.sh")"
  if have_image "$tag"; then log "$tag: present"; else
    local dir; dir="$(mktemp -d)"
    mkdir -p "$dir/bin" "$dir/tmp" "$dir/www"
    cp /bin/busybox "$dir/bin/busybox"
    for applet in sh httpd wget echo cat sleep; do ln -s busybox "$dir/bin/$applet"; done
    tar -C "$dir" -c . | docker import -c 'ENV PATH=/bin' - "$tag" >/dev/null
    rm -rf "$dir"
    log "$tag: built"
  fi
  docker tag "$tag" elm-infra/tiny:latest
}

case "${1:-all}" in
  tiny) build_tiny ;;
  all) build_tiny ;;
  *) echo "usage: $0 [tiny|all]" >&2; exit 2 ;;
esac
