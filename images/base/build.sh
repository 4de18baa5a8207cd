#!/usr/bin/env bash
# Builds the locally made base images (no registry can be reached, so nothing is pulled):
#   elm-infra/tiny:<hash>  busybox-static in an empty image, for test apps and the backup export
#                          (also tagged :latest and :busybox)
#   elm-infra/base:<hash>  minimal Debian bookworm (minbase + python3 + ca-certificates), the
#                          FROM of the service images
#   elm-infra/host:<hash>  Debian bookworm that boots like a VM: systemd as PID 1, sshd (root by
#                          key only), a nested dockerd, unattended-upgrades (its daily runs off),
#                          no Debian apt sources (only the target's own apt repository is used);
#                          the `local` target's machines (ELM_INFRA_HOST_IMAGE_KEEP_LATEST=1: built
#                          without moving :latest)
#   elm-infra/lb:<hash>    minimal Debian bookworm with HAProxy (and socat for its admin socket):
#                          the `local` target's load balancer (iac/local uploads its haproxy.cfg)
#   traefik:v<version>     the pinned Traefik binary from the tool cache, for the local target's
#                          ingress (named like the official image, so the job is the same everywhere);
#                          also each of versions.json's traefik.alsoCached whose binary is cached
#                          (what `upgrade --traefik <v>` rolls to), or one version: `traefik 3.6.14`
#   elm-infra/pebble:<hash> Pebble (Let's Encrypt's ACME test server) and pebble-challtestsrv in
#                          /usr/local/bin, Pebble's own TLS certificate, key and CA in
#                          /etc/pebble/{cert,key,minica}.pem, curl and ca-certificates: the local
#                          target's ACME CA (also tagged :latest; the tag hashes recipe + binaries)
#   elm-infra/acme-issuer:v<lego version>  lego in /usr/local/bin, ca-certificates, curl, jq,
#                          openssl, busybox-static (its httpd serves the HTTP-01 webroot) and a
#                          shell: the cluster's certificate issuer job (a label holds the hash of
#                          recipe + binary, so a changed one is rebuilt under the same tag)
#   elm-infra/cluster-snapshot:v1  Debian's curl, age and bash: the cluster's periodic snapshot
#                          job (Nomad's and Consul's, encrypted with age); a label holds the hash
#                          of its recipe, so a changed one is rebuilt under the same tag (bump the
#                          tag in src/plan/cluster-snapshots.ts with it: workers keep what they pulled)
#   elm-infra/registry:<hash>  Debian's docker-registry (2.8) with images/registry's start script
#                          and config (TLS from a CA it makes, htpasswd, no request log): the
#                          `local` target's private registry (also tagged :latest)
# Each tag is a hash of its recipe, so an image is rebuilt only when its recipe changes; the
# tag ":latest" points at the current one. Debootstrap rootfs tarballs are cached under
# ~/.cache/elm-infra/images/, keyed by their own recipe hash, so re-making an image from a
# changed configuration takes seconds, not minutes.
# Debootstrap reads packages from the Debian mirror apt already uses on this machine
# (ELM_INFRA_DEBIAN_MIRROR overrides it).
# Usage: images/base/build.sh [tiny|base|host|lb|traefik [VERSION]|pebble|acme-issuer|cluster-snapshot|registry|all]   (stdout stays quiet; progress goes to stderr)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
host_dir="$(cd "$here/../host" && pwd)"
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/elm-infra/images"
tool_cache="${ELM_INFRA_CACHE:-$HOME/.cache/elm-infra}"
suite=bookworm
log() { printf '[images] %s\n' "$*" >&2; }

hash_text() { sha256sum | cut -c1-12; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# The Debian archive URI from apt's own configuration: the first deb822 `URIs:` of a stanza whose
# Suites name the plain suite, else the first matching one-line `deb` entry.
debian_mirror() {
  if [[ -n "${ELM_INFRA_DEBIAN_MIRROR:-}" ]]; then echo "$ELM_INFRA_DEBIAN_MIRROR"; return; fi
  local uri=""
  shopt -s nullglob
  local sources=(/etc/apt/sources.list.d/*.sources)
  if ((${#sources[@]})); then
    uri="$(awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
          if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
          if ($i ~ /^Types:/ && $i !~ /(^|[ \t])deb([ \t]|$)/) { ok = -1 }
        }
        if (ok == 1 && uris != "") { print uris; exit }
      }' "${sources[@]}")"
  fi
  if [[ -z "$uri" ]]; then
    local lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
    local existing=(); for f in "${lists[@]}"; do [[ -f "$f" ]] && existing+=("$f"); done
    if ((${#existing[@]})); then
      uri="$(awk -v suite="$suite" '$1 == "deb" {
          i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
          if ($(i + 1) == suite) { print $i; exit } }' "${existing[@]}")"
    fi
  fi
  if [[ -z "$uri" ]]; then
    log "no Debian $suite mirror found in apt's sources; set ELM_INFRA_DEBIAN_MIRROR"; exit 1
  fi
  echo "$uri"
}

# Prints the path of a cached minbase rootfs tarball with the given extra packages, making it
# with debootstrap when it is missing.
debootstrap_rootfs() {
  local name="$1" include="$2"
  local key; key="$(printf 'debootstrap --variant=minbase --include=%s %s\n' "$include" "$suite" | hash_text)"
  local tarball="$cache_dir/$name-rootfs-$key.tar"
  if [[ -f "$tarball" ]]; then log "$name rootfs: cached ($tarball)"; echo "$tarball"; return; fi
  command -v debootstrap >/dev/null || { log "debootstrap is missing: apt-get install -y debootstrap"; exit 1; }
  local mirror; mirror="$(debian_mirror)"
  local dir; dir="$(mktemp -d)"
  log "$name rootfs: debootstrap $suite from $mirror (a few minutes)"
  if ! debootstrap --variant=minbase --include="$include" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1; then
    tail -n 30 "$dir.log" >&2; rm -rf "$dir" "$dir.log"; log "$name rootfs: debootstrap failed"; exit 1
  fi
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/*.log
  mkdir -p "$cache_dir"
  tar -C "$dir" --numeric-owner -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
  rm -rf "$dir" "$dir.log"
  log "$name rootfs: cached ($tarball, $(du -h "$tarball" | cut -f1))"
  echo "$tarball"
}

build_tiny() {
  local tag="elm-infra/tiny:$(declare -f build_tiny | hash_text)"
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
  # What Nomad jobs name (the package data's backup export): Nomad pulls any `:latest` image.
  docker tag "$tag" elm-infra/tiny:busybox
}

base_packages=python3,ca-certificates

build_base() {
  local tag="elm-infra/base:$( { declare -f build_base debootstrap_rootfs; echo "$base_packages"; } | hash_text)"
  if have_image "$tag"; then log "$tag: present"; else
    local tarball; tarball="$(debootstrap_rootfs base "$base_packages")"
    docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' "$tarball" "$tag" >/dev/null
    log "$tag: built"
  fi
  docker tag "$tag" elm-infra/base:latest
}

# python3-apt: Ansible's apt modules (the agents come from the target's apt repository).
# unattended-upgrades: `reboot --upgrade-packages` runs it, as on production's hosts, which install
# it from Debian; the local hosts reach no Debian archive (their daily runs stay off: configure.sh).
host_packages=systemd,systemd-sysv,openssh-server,python3,python3-apt,iproute2,ca-certificates,curl,docker.io,iptables,nftables,sudo,unattended-upgrades

build_host() {
  local tag="elm-infra/host:$( { declare -f build_host debootstrap_rootfs; echo "$host_packages"
    (cd "$host_dir" && tar --sort=name --mtime=@0 --owner=0 --group=0 -c .); } | hash_text)"
  if have_image "$tag"; then log "$tag: present"; else
    local tarball; tarball="$(debootstrap_rootfs host "$host_packages")"
    local rootfs="elm-infra/host-rootfs:${tag#*:}" box="elm-infra-image-build-$$"
    trap 'docker rm -f "'"$box"'" >/dev/null 2>&1; docker rmi "'"$rootfs"'" >/dev/null 2>&1' EXIT
    docker import "$tarball" "$rootfs" >/dev/null
    # Configure in a plain (not booted) container, then commit it with what booting it needs.
    # (`docker commit` cannot set STOPSIGNAL: run it with --stop-signal SIGRTMIN+3 for a clean
    # systemd shutdown on `docker stop`.)
    docker create --name "$box" --network none "$rootfs" bash /tmp/elm-infra-host/configure.sh >/dev/null
    docker cp "$host_dir/." "$box:/tmp/elm-infra-host" >/dev/null
    docker start -a "$box" >&2 || { log "$tag: configure.sh failed"; exit 1; }
    docker commit -c 'ENV container=docker' -c 'CMD ["/lib/systemd/systemd"]' "$box" "$tag" >/dev/null
    log "$tag: built"
  fi
  # A running local target's OpenTofu resolves :latest: moved under it, its next apply replaces
  # every host. ELM_INFRA_HOST_IMAGE_KEEP_LATEST=1 builds the image and leaves :latest where it is
  # (use the tag printed, e.g. as ELM_INFRA_E2E_HOST_IMAGE).
  if [[ "${ELM_INFRA_HOST_IMAGE_KEEP_LATEST:-}" == 1 ]]; then log "$tag: :latest not moved"; return; fi
  docker tag "$tag" elm-infra/host:latest
}

lb_packages=haproxy,socat

build_lb() {
  local tag="elm-infra/lb:$( { declare -f build_lb debootstrap_rootfs; echo "$lb_packages"; } | hash_text)"
  if have_image "$tag"; then log "$tag: present"; else
    local tarball; tarball="$(debootstrap_rootfs lb "$lb_packages")"
    docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'EXPOSE 80 443' -c 'CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]' \
      "$tarball" "$tag" >/dev/null
    log "$tag: built"
  fi
  docker tag "$tag" elm-infra/lb:latest
}

# The version src/tools/versions.json pins for a tool.
pinned_version() { sed -n '/"'"$1"'": {/,/}/s/.*"version": *"\([^"]*\)".*/\1/p' "$here/../../src/tools/versions.json"; }

# The other versions of a tool that src/tools/versions.json has install.sh cache (`alsoCached`).
also_cached() { node -e 'for (const v of require(process.argv[1])[process.argv[2]].alsoCached || []) console.log(v)' "$here/../../src/tools/versions.json" "$1"; }

# build_traefik [VERSION]: traefik:v<version> from the tool cache's binary. Without VERSION, the
# pinned one (the binary ~/.cache/elm-infra/bin/traefik links to) and each `alsoCached` version
# whose binary is cached; with VERSION, that one, or exit saying how to cache it.
build_traefik() {
  local pinned v; pinned="$(pinned_version traefik)"
  if [[ -n "${1:-}" ]]; then
    v="${1#v}"
    [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || { log "traefik $1: the version must look like 3.6.14"; exit 2; }
    [[ -x "$(traefik_binary "$v")" ]] || { log "traefik $v is not in the tool cache ($(traefik_binary "$v")): run bash src/tools/install.sh --tool $(traefik_tool "$v")"; exit 1; }
    build_traefik_image "$v"; return
  fi
  build_traefik "$pinned"
  for v in $(also_cached traefik); do
    if [[ -x "$(traefik_binary "$v")" ]]; then build_traefik_image "$v"
    else log "traefik:v$v: skipped, its binary is not cached (bash src/tools/install.sh --tool $(traefik_tool "$v"))"; fi
  done
}

# traefik_tool VERSION: install.sh's --tool argument for it (the pinned one needs no @VERSION).
traefik_tool() { if [[ "$1" == "$(pinned_version traefik)" ]]; then echo traefik; else echo "traefik@$1"; fi; }

# traefik_binary VERSION: where the tool cache keeps it (the pinned one: wherever install.sh linked).
traefik_binary() {
  if [[ "$1" == "$(pinned_version traefik)" ]]; then echo "$tool_cache/bin/traefik"
  else echo "$tool_cache/tools/traefik/$1/traefik"; fi
}

# build_traefik_image VERSION: traefik:v<VERSION>, rebuilt only when the binary's hash changed.
build_traefik_image() {
  local bin; bin="$(traefik_binary "$1")"
  local tag="traefik:v$1" binary_id; binary_id="$(sha256sum "$bin" | cut -c1-12)"
  # A static binary needs nothing around it; a dynamically linked one needs Debian's libc.
  local from=elm-infra/tiny:latest
  if ldd "$bin" >/dev/null 2>&1; then from=elm-infra/base:latest; build_base; else build_tiny; fi
  if [[ "$(docker image inspect "$tag" --format '{{ index .Config.Labels "org.elm-infra.binary" }}' 2>/dev/null)" == "$binary_id" ]]; then
    log "$tag: present"; return
  fi
  local dir; dir="$(mktemp -d)"
  cp "$bin" "$dir/traefik"
  printf 'FROM %s\nCOPY traefik /usr/local/bin/traefik\nLABEL org.elm-infra.binary=%s\nENTRYPOINT ["/usr/local/bin/traefik"]\n' \
    "$from" "$binary_id" >"$dir/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >/dev/null 2>&1 || { rm -rf "$dir"; log "$tag: docker build failed"; exit 1; }
  rm -rf "$dir"
  log "$tag: built FROM $from"
}

# build_on_rootfs TAG TARBALL DIR: the rootfs tarball imported, then DIR's Dockerfile (FROM
# @ROOTFS@, only COPY/ENV/LABEL/CMD: nothing runs, nothing is fetched) built on top of it.
build_on_rootfs() {
  local tag="$1" tarball="$2" dir="$3" rootfs="elm-infra/rootfs-build:$$"
  docker import "$tarball" "$rootfs" >/dev/null
  sed -i "s|@ROOTFS@|$rootfs|" "$dir/Dockerfile"
  local rc=0
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >/dev/null 2>"$dir.log" || rc=$?
  docker rmi "$rootfs" >/dev/null  # only untags it: the new image keeps its layer
  if ((rc)); then tail -n 20 "$dir.log" >&2; rm -rf "$dir" "$dir.log"; log "$tag: docker build failed"; exit 1; fi
  rm -rf "$dir" "$dir.log"
}

# tool_files TOOL FILE...: the paths of a pinned tool's files in the tool cache, or exit saying how
# to get them.
tool_files() {
  local tool="$1" v; v="$(pinned_version "$1")"; shift
  local f
  for f in "$@"; do
    [[ -f "$tool_cache/tools/$tool/$v/$f" ]] || { log "$tool $v is not in the tool cache ($tool_cache/tools/$tool/$v/$f): run bash src/tools/install.sh --only tools"; exit 1; }
    echo "$tool_cache/tools/$tool/$v/$f"
  done
}

pebble_packages=ca-certificates,curl

build_pebble() {
  local files; mapfile -t files < <(tool_files pebble pebble certs/cert.pem certs/key.pem certs/minica.pem; tool_files pebble-challtestsrv pebble-challtestsrv)
  ((${#files[@]} == 5)) || exit 1
  local tag="elm-infra/pebble:$( { declare -f build_pebble build_on_rootfs debootstrap_rootfs; echo "$pebble_packages"
    sha256sum "${files[@]}" | cut -d' ' -f1; } | hash_text)"
  if have_image "$tag"; then log "$tag: present"; else
    local tarball; tarball="$(debootstrap_rootfs pebble "$pebble_packages")"
    local dir; dir="$(mktemp -d)"
    cp "${files[@]}" "$dir/"
    cat >"$dir/Dockerfile" <<'DOCKERFILE'
FROM @ROOTFS@
COPY pebble pebble-challtestsrv /usr/local/bin/
COPY cert.pem key.pem minica.pem /etc/pebble/
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
EXPOSE 14000 15000
CMD ["pebble", "-config", "/etc/pebble/config.json"]
DOCKERFILE
    build_on_rootfs "$tag" "$tarball" "$dir"
    log "$tag: built"
  fi
  docker tag "$tag" elm-infra/pebble:latest
}

acme_issuer_packages=ca-certificates,curl,jq,openssl,busybox-static

build_acme_issuer() {
  local bin; bin="$(tool_files lego lego)" || exit 1
  local tag; tag="elm-infra/acme-issuer:v$(pinned_version lego)"
  local recipe; recipe="$( { declare -f build_acme_issuer build_on_rootfs debootstrap_rootfs
    echo "$acme_issuer_packages"; sha256sum <"$bin" | cut -d' ' -f1; } | hash_text)"
  if [[ "$(docker image inspect "$tag" --format '{{ index .Config.Labels "org.elm-infra.recipe" }}' 2>/dev/null)" == "$recipe" ]]; then
    log "$tag: present"; return
  fi
  local tarball; tarball="$(debootstrap_rootfs acme-issuer "$acme_issuer_packages")"
  local dir; dir="$(mktemp -d)"
  cp "$bin" "$dir/lego"
  cat >"$dir/Dockerfile" <<DOCKERFILE
FROM @ROOTFS@
COPY lego /usr/local/bin/lego
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
LABEL org.elm-infra.recipe=$recipe
CMD ["/bin/sh"]
DOCKERFILE
  build_on_rootfs "$tag" "$tarball" "$dir"
  log "$tag: built (recipe $recipe)"
}

cluster_snapshot_packages=ca-certificates,curl,age

build_cluster_snapshot() {
  local tag="elm-infra/cluster-snapshot:v1"
  local recipe; recipe="$( { declare -f build_cluster_snapshot build_on_rootfs debootstrap_rootfs
    echo "$cluster_snapshot_packages"; } | hash_text)"
  if [[ "$(docker image inspect "$tag" --format '{{ index .Config.Labels "org.elm-infra.recipe" }}' 2>/dev/null)" == "$recipe" ]]; then
    log "$tag: present"; return
  fi
  local tarball; tarball="$(debootstrap_rootfs cluster-snapshot "$cluster_snapshot_packages")"
  local dir; dir="$(mktemp -d)"
  cat >"$dir/Dockerfile" <<DOCKERFILE
FROM @ROOTFS@
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
LABEL org.elm-infra.recipe=$recipe
CMD ["/bin/bash"]
DOCKERFILE
  build_on_rootfs "$tag" "$tarball" "$dir"
  log "$tag: built (recipe $recipe)"
}

registry_packages=docker-registry,openssl,apache2-utils,ca-certificates

build_registry() {
  local registry_dir; registry_dir="$(cd "$here/../registry" && pwd)"
  local tag="elm-infra/registry:$( { declare -f build_registry build_on_rootfs debootstrap_rootfs
    echo "$registry_packages"; (cd "$registry_dir" && tar --sort=name --mtime=@0 --owner=0 --group=0 -c .); } | hash_text)"
  if have_image "$tag"; then log "$tag: present"; else
    local tarball; tarball="$(debootstrap_rootfs registry "$registry_packages")"
    local dir; dir="$(mktemp -d)"
    cp "$registry_dir/start.sh" "$registry_dir/config.yml" "$dir/"
    cat >"$dir/Dockerfile" <<'DOCKERFILE'
FROM @ROOTFS@
COPY config.yml /etc/docker/registry/config.yml
COPY start.sh /usr/local/bin/elm-infra-registry
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
EXPOSE 5000
CMD ["/usr/local/bin/elm-infra-registry"]
DOCKERFILE
    build_on_rootfs "$tag" "$tarball" "$dir"
    log "$tag: built"
  fi
  docker tag "$tag" elm-infra/registry:latest
}

# One build at a time per machine: two debootstraps of the same rootfs would race for the cache.
mkdir -p "$cache_dir"
exec 9>"$cache_dir/.build.lock"
flock -w 1800 9 || { log "another image build holds $cache_dir/.build.lock"; exit 1; }

case "${1:-all}" in
  tiny) build_tiny ;;
  base) build_base ;;
  host) build_host ;;
  lb) build_lb ;;
  traefik) build_traefik "${2:-}" ;;
  pebble) build_pebble ;;
  acme-issuer) build_acme_issuer ;;
  cluster-snapshot) build_cluster_snapshot ;;
  registry) build_registry ;;
  # The images of Go tools only once the tools are built (install.sh builds them first).
  all) build_tiny; build_base; build_host; build_lb; build_registry; build_cluster_snapshot
    if [[ -x "$tool_cache/bin/traefik" ]]; then build_traefik; fi
    if [[ -d "$tool_cache/tools/pebble/$(pinned_version pebble)" && -d "$tool_cache/tools/pebble-challtestsrv/$(pinned_version pebble-challtestsrv)" ]]; then build_pebble; fi
    if [[ -d "$tool_cache/tools/lego/$(pinned_version lego)" ]]; then build_acme_issuer; fi ;;
  *) echo "usage: $0 [tiny|base|host|lb|traefik [VERSION]|pebble|acme-issuer|cluster-snapshot|registry|all]" >&2; exit 2 ;;
esac
