#!/usr/bin/env bash
# Builds the local target's signed apt repository, which stands in for the two archives production's
# hosts install from besides Debian's own:
# - HashiCorp's (apt.releases.hashicorp.com), suite bookworm: the pinned nomad and consul binaries
#   from the tool cache, packaged as HashiCorp packages them (names nomad and consul, version
#   "<v>-1", the binary in /usr/bin). The hosts install them with the same tasks production runs
#   against HashiCorp's repository (playbooks/roles/base/tasks/hashicorp-apt.yml, the consul and
#   nomad roles' install.yml).
# - Debian's security archive (security.debian.org/debian-security), suite bookworm-security, its
#   Release as Debian's (Origin "Debian", Label "Debian-Security", Codename "bookworm-security"),
#   so that unattended-upgrades takes it for the security archive: one stand-in package,
#   elm-infra-security-canary, at versions 1 and 2, for the tests of `reboot --upgrade-packages`
#   (install 1, the upgrades bring 2).
# Indexed with apt-ftparchive, each Release signed with an ed25519 key made once for this machine.
#
#   ~/.cache/elm-infra/apt/key/              the signing key's GnuPG home (0700), public.asc
#   ~/.cache/elm-infra/apt/repo/nomad-<v>-consul-<v>-security/
#       gpg                                  the public key, where HashiCorp serves theirs
#       dists/bookworm/{InRelease,Release,Release.gpg,main/binary-amd64/Packages{,.gz}}
#       dists/bookworm-security/...          the same files, for the security stand-in
#       pool/main/{n/nomad,c/consul}/*.deb
#       pool/updates/main/e/elm-infra-security-canary/*.deb
# A repository is keyed by the version pair: new pinned versions build a new one beside the old.
# Idempotent (a complete repository signed by the current key is kept); needs dpkg-deb,
# apt-ftparchive (apt-utils) and gpg.
# Usage: src/tools/agents-apt.sh   (prints the repository's folder on stdout)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ELM_INFRA_CACHE:-$HOME/.cache/elm-infra}"
suite=bookworm security_suite=bookworm-security arch=amd64
canary=elm-infra-security-canary
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
  pack_deb "$root" "$dest"
}

# build_canary VERSION DEST: the security stand-in's package, a file saying its version.
build_canary() {
  local version="$1" dest="$2"
  local root; root="$(mktemp -d)"
  install -d -m 0755 "$root/DEBIAN" "$root/usr/share/$canary"
  echo "$version" >"$root/usr/share/$canary/version"
  chmod 0644 "$root/usr/share/$canary/version"
  cat >"$root/DEBIAN/control" <<CONTROL
Package: $canary
Version: $version
Architecture: all
Maintainer: elm-infra <elm-infra@localhost>
Section: misc
Priority: optional
Description: stand-in for a Debian security update (elm-infra's local target)
 Served in the local stand-in for Debian's security archive at versions 1 and 2: a host with
 version 1 gets version 2 from \`elm-infra reboot --upgrade-packages\`.
CONTROL
  pack_deb "$root" "$dest"
}

# pack_deb ROOT DEST: ROOT (removed afterwards) as a package at DEST.
pack_deb() {
  local root="$1" dest="$2"
  chmod 0755 "$root"  # the package's "./" entry is the hosts' "/"
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
  [[ -f "$dir/dists/$suite/InRelease" && -f "$dir/dists/$security_suite/InRelease" && -f "$dir/gpg" ]] || return 1
  cmp -s "$dir/gpg" "$key_home/public.asc" || return 1
  local deb
  for deb in "$dir"/pool/main/*/*/*.deb "$dir"/pool/updates/main/*/*/*.deb; do
    [[ -f "$deb" ]] || return 1
    [[ "$(dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -tvf - 2>/dev/null | head -n 1 | cut -c1-10)" == drwxr-xr-x ]] || return 1
  done
  gpgv --keyring "$key_home/pubring.kbx" "$dir/dists/$suite/InRelease" >/dev/null 2>&1 &&
    gpgv --keyring "$key_home/pubring.kbx" "$dir/dists/$security_suite/InRelease" >/dev/null 2>&1
}

# index_suite REPO SUITE POOL ORIGIN LABEL [SUITE_NAME]: dists/SUITE indexing the packages under
# REPO/POOL, its Release (Codename SUITE, Suite SUITE_NAME or SUITE) signed.
index_suite() {
  local repo="$1" dist="$2" pool="$3" origin="$4" label="$5" name="${6:-$2}"
  local index="$repo/dists/$dist/main/binary-$arch"
  mkdir -p "$index"
  (cd "$repo" && apt-ftparchive packages "$pool" >"$index/Packages")
  gzip -9n <"$index/Packages" >"$index/Packages.gz"
  (cd "$repo/dists/$dist" && apt-ftparchive \
    -o APT::FTPArchive::Release::Origin="$origin" -o APT::FTPArchive::Release::Label="$label" \
    -o APT::FTPArchive::Release::Suite="$name" -o APT::FTPArchive::Release::Codename="$dist" \
    -o APT::FTPArchive::Release::Architectures=$arch -o APT::FTPArchive::Release::Components=main \
    release . >Release.tmp && mv Release.tmp Release)
  local g=(gpg --homedir "$key_home" --batch --yes --local-user elm-infra --digest-algo SHA512)
  "${g[@]}" --clearsign -o "$repo/dists/$dist/InRelease" "$repo/dists/$dist/Release"
  "${g[@]}" --armor --detach-sign -o "$repo/dists/$dist/Release.gpg" "$repo/dists/$dist/Release"
}

build_repo() {
  local nomad_v consul_v; nomad_v="$(pinned_version nomad)"; consul_v="$(pinned_version consul)"
  local dir="$cache/apt/repo/nomad-$nomad_v-consul-$consul_v-security"
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
  build_canary 1 "$tmp/pool/updates/main/e/$canary/${canary}_1_all.deb"
  build_canary 2 "$tmp/pool/updates/main/e/$canary/${canary}_2_all.deb"
  index_suite "$tmp" "$suite" pool/main elm-infra elm-infra
  # As Debian's: unattended-upgrades' origin patterns match Origin, Label and Codename.
  index_suite "$tmp" "$security_suite" pool/updates Debian Debian-Security stable-security
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
