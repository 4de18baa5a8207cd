#!/usr/bin/env bash
# Builds the signed apt repository that stands in for HashiCorp's (apt.releases.hashicorp.com) on
# the local target: the pinned nomad and consul binaries from the tool cache, packaged as HashiCorp
# packages them (names nomad and consul, version "<v>-1", the binary in /usr/bin), indexed with
# apt-ftparchive and its Release signed with an ed25519 key made once for this machine. The hosts
# install from it with the same tasks production runs against HashiCorp's repository
# (playbooks/roles/base/tasks/hashicorp-apt.yml, the consul and nomad roles' install.yml).
#
#   ~/.cache/elm-infra/apt/key/              the signing key's GnuPG home (0700), public.asc
#   ~/.cache/elm-infra/apt/repo/nomad-<v>-consul-<v>/
#       gpg                                  the public key, where HashiCorp serves theirs
#       dists/bookworm/{InRelease,Release,Release.gpg,main/binary-amd64/Packages{,.gz}}
#       pool/main/{n/nomad,c/consul}/*.deb
# A repository is keyed by the version pair: new pinned versions build a new one beside the old.
# Idempotent (a complete repository signed by the current key is kept); needs dpkg-deb,
# apt-ftparchive (apt-utils) and gpg.
# Usage: src/tools/agents-apt.sh   (prints the repository's folder on stdout)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ELM_INFRA_CACHE:-$HOME/.cache/elm-infra}"
suite=bookworm arch=amd64
log() { printf '[apt] %s\n' "$*" >&2; }
die() { printf '[apt] error: %s\n' "$*" >&2; exit 1; }

pinned_version() { node -e 'process.stdout.write(require(process.argv[1])[process.argv[2]].version)' "$here/versions.json" "$1"; }

for t in dpkg-deb apt-ftparchive gpg; do
  command -v "$t" >/dev/null || die "$t is missing: bash src/tools/install.sh --only packages"
done

key_home="$cache/apt/key"
# The signing key: made once, kept (the hosts of a running target trust it).
ensure_key() {
  mkdir -p "$key_home"; chmod 0700 "$key_home"
  if ! gpg --homedir "$key_home" --batch --list-secret-keys elm-infra >/dev/null 2>&1; then
    log "making the repository's signing key (ed25519) in $key_home"
    gpg --homedir "$key_home" --batch --passphrase '' --quick-generate-key \
      "elm-infra local apt repository" ed25519 sign never 2>/dev/null
  fi
  gpg --homedir "$key_home" --batch --armor --export elm-infra >"$key_home/public.asc.tmp"
  mv "$key_home/public.asc.tmp" "$key_home/public.asc"
}

# build_deb NAME VERSION BINARY DEST: a package as HashiCorp's, for what the roles rely on (the
# binary in /usr/bin; the roles make the user, folders, configuration and unit themselves).
build_deb() {
  local name="$1" version="$2" binary="$3" dest="$4"
  local root; root="$(mktemp -d)"
  chmod 0755 "$root"  # the package's "./" entry is the hosts' "/"
  install -d -m 0755 "$root/DEBIAN" "$root/usr/bin"
  install -m 0755 "$binary" "$root/usr/bin/$name"
  cat >"$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version-1
Architecture: $arch
Maintainer: elm-infra <elm-infra@localhost>
Section: default
Priority: optional
Installed-Size: $(du -sk "$root/usr" | cut -f1)
Description: $name $version (elm-infra's local stand-in for HashiCorp's package)
 The pinned $name binary from elm-infra's tool cache, in /usr/bin as HashiCorp's package has it.
CONTROL
  mkdir -p "$(dirname "$dest")"
  # gzip: dpkg-deb's default xz takes minutes on 300 MB of Go binaries.
  dpkg-deb -Zgzip --root-owner-group --build "$root" "$dest.tmp" >/dev/null
  mv "$dest.tmp" "$dest"
  rm -rf "$root"
}

# A repository is sound when it is complete, its packages' root entry is 0755 and its InRelease
# verifies with the current key.
repo_sound() {
  local dir="$1"
  [[ -f "$dir/dists/$suite/InRelease" && -f "$dir/gpg" ]] || return 1
  cmp -s "$dir/gpg" "$key_home/public.asc" || return 1
  local deb
  for deb in "$dir"/pool/main/*/*/*.deb; do
    [[ -f "$deb" ]] || return 1
    [[ "$(dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -tvf - 2>/dev/null | head -n 1 | cut -c1-10)" == drwxr-xr-x ]] || return 1
  done
  gpgv --keyring "$key_home/pubring.kbx" "$dir/dists/$suite/InRelease" >/dev/null 2>&1
}

build_repo() {
  local nomad_v consul_v; nomad_v="$(pinned_version nomad)"; consul_v="$(pinned_version consul)"
  local dir="$cache/apt/repo/nomad-$nomad_v-consul-$consul_v"
  if repo_sound "$dir"; then log "repository: present ($dir)"; echo "$dir"; return; fi
  local n
  for n in nomad consul; do
    [[ -x "$cache/tools/$n/$(pinned_version $n)/$n" ]] || die "$n is not in the tool cache: bash src/tools/install.sh --only tools"
  done
  local tmp="$dir.tmp-$$"; rm -rf "$dir".tmp-*; mkdir -p "$tmp"
  trap 'rm -rf "'"$tmp"'"; stop_agent' EXIT
  log "building the repository for nomad $nomad_v and consul $consul_v"
  build_deb nomad "$nomad_v" "$cache/tools/nomad/$nomad_v/nomad" "$tmp/pool/main/n/nomad/nomad_${nomad_v}-1_$arch.deb"
  build_deb consul "$consul_v" "$cache/tools/consul/$consul_v/consul" "$tmp/pool/main/c/consul/consul_${consul_v}-1_$arch.deb"
  local index="$tmp/dists/$suite/main/binary-$arch"
  mkdir -p "$index"
  (cd "$tmp" && apt-ftparchive packages pool >"$index/Packages")
  gzip -9n <"$index/Packages" >"$index/Packages.gz"
  (cd "$tmp/dists/$suite" && apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=elm-infra -o APT::FTPArchive::Release::Label=elm-infra \
    -o APT::FTPArchive::Release::Suite=$suite -o APT::FTPArchive::Release::Codename=$suite \
    -o APT::FTPArchive::Release::Architectures=$arch -o APT::FTPArchive::Release::Components=main \
    release . >Release.tmp && mv Release.tmp Release)
  local g=(gpg --homedir "$key_home" --batch --yes --local-user elm-infra --digest-algo SHA512)
  "${g[@]}" --clearsign -o "$tmp/dists/$suite/InRelease" "$tmp/dists/$suite/Release"
  "${g[@]}" --armor --detach-sign -o "$tmp/dists/$suite/Release.gpg" "$tmp/dists/$suite/Release"
  cp "$key_home/public.asc" "$tmp/gpg"
  chmod -R a+rX "$tmp"
  rm -rf "$dir"; mv "$tmp" "$dir"
  trap stop_agent EXIT
  log "repository: built ($dir)"
  echo "$dir"
}

mkdir -p "$cache/apt"
exec 9>"$cache/apt/.build.lock"
flock -w 600 9 || die "another build holds $cache/apt/.build.lock"
# gpg starts an agent for the key's home: stop it when done, whatever happens.
stop_agent() { gpgconf --homedir "$key_home" --kill gpg-agent 2>/dev/null || true; }
trap stop_agent EXIT
ensure_key
build_repo
