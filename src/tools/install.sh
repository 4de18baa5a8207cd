#!/usr/bin/env bash
# Installs every program elm-infra drives: Debian packages (Docker engine, Ansible, OpenSSH,
# debootstrap, busybox, apt-utils, gpg, age), the HashiCorp/Traefik/OpenTofu binaries (and, from
# nomad and consul, the local target's signed apt repository), the Terraform providers, the ACME
# tools (Pebble and its challenge test server for the local target, the lego client for the
# issuer) and the locally made base images. Idempotent; two runs at once serialise on a lock per tool.
#
# For each Go tool, in order: a binary on PATH at the pinned version; the cache
# (~/.cache/elm-infra/tools/<tool>/<version>/); the official release archive checked against its
# published SHA-256 sums; a build from its Go module through the Go module proxy. versions.json may
# give a tool `ldflags` for that build and `files` to keep from its module source beside the binary.
# The pinned version is linked as ~/.cache/elm-infra/bin/<tool>. A tool's `alsoCached` versions
# (Traefik's: what `upgrade --traefik <v>` can roll to without a build) are put in the cache too,
# from the same sources but PATH, and never linked.
#
# Usage: src/tools/install.sh [--only tools|packages|images|docker|none] [--tool NAME[@VERSION]] [--print-env]
#   --tool NAME          install the pinned version of one tool
#   --tool NAME@VERSION  build and cache another version of it (not linked), e.g. traefik@3.6.14
#   --print-env          print the exports (PATH, TF_CLI_CONFIG_FILE) that put the tools in reach
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
versions="$here/versions.json"
cache="${ELM_INFRA_CACHE:-$HOME/.cache/elm-infra}"
bin="$cache/bin"
mkdir -p "$cache" "$bin"

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] error: %s\n' "$*" >&2; exit 1; }

field() { node -e 'const v=require(process.argv[1])[process.argv[2]]; const f=v&&v[process.argv[3]]; process.stdout.write(f===undefined?"":String(f))' "$versions" "$1" "$2"; }
# also_cached TOOL: the versions versions.json lists under the tool's `alsoCached`, one a line.
also_cached() { node -e 'const v=require(process.argv[1])[process.argv[2]]; for (const x of (v&&v.alsoCached)||[]) console.log(x)' "$versions" "$1"; }

with_lock() { # with_lock NAME CMD...: one holder at a time across processes
  local lock="$cache/locks/$1.lock"; shift
  mkdir -p "$cache/locks"
  exec {fd}>"$lock"
  flock "$fd"
  "$@"
  local rc=$?
  flock -u "$fd"
  return $rc
}

# ---------- Debian packages ----------
need_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v ansible-playbook >/dev/null || missing+=(ansible-core)
  command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v ssh >/dev/null || missing+=(openssh-client)
  command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v unzip >/dev/null || missing+=(unzip)
  command -v flock >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || missing+=(iproute2)
  # the bad-input suite's registry on loopback (test/harness/registry.ts), with htpasswd auth
  [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  # the local target's signed apt repository of the agents (src/tools/agents-apt.sh)
  command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
  command -v gpg >/dev/null || missing+=(gpg)
  # reading the cluster's snapshots (encrypted with age; the e2e decrypts them)
  command -v age >/dev/null || missing+=(age)
  printf '%s\n' "${missing[@]}"
}

install_packages() {
  local missing; missing="$(need_packages)"
  [ -z "$missing" ] && { log "Debian packages: present"; return 0; }
  [ "$(id -u)" = 0 ] || die "missing Debian packages: $(echo $missing); run as root or install them: apt-get install -y $(echo $missing)"
  log "installing Debian packages: $(echo $missing)"
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

# ---------- Docker engine ----------
start_docker() {
  if docker info >/dev/null 2>&1; then log "Docker engine: running"; return 0; fi
  command -v dockerd >/dev/null || die "dockerd not found; run: src/tools/install.sh --only packages"
  log "starting dockerd in the background (log: $cache/dockerd.log)"
  nohup dockerd >"$cache/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && { log "Docker engine: running"; return 0; }; sleep 1; done
  tail -20 "$cache/dockerd.log" >&2
  die "dockerd did not answer within 60 s"
}

# ---------- Go tools ----------
tool_version_ok() { # tool_version_ok PATH TOOL VERSION
  local out
  case "$2" in
    terraform-provider-*) [ -x "$1" ] ;;   # providers have no --version; trust the cache key
    traefik) out="$("$1" version 2>/dev/null)" && grep -q "$3" <<<"$out" ;;
    lego) out="$("$1" --version 2>/dev/null)" && grep -q "$3" <<<"$out" ;;
    versitygw) out="$("$1" --version 2>/dev/null | head -1)" && grep -qE "Version *: *v?$3\$" <<<"$out" ;;
    # Only the cache: Pebble's certificate and CA sit beside its binary there, and `go install`
    # builds say "dev" (pebble) or nothing (pebble-challtestsrv) for their version.
    pebble|pebble-challtestsrv) return 1 ;;
    *) out="$("$1" version 2>/dev/null | head -1)" && grep -q "v$3" <<<"$out" ;;
  esac
}

fetch_release() { # fetch_release TOOL VERSION DEST: official archive verified by SHA256SUMS
  local tool="$1" v="$2" dest="$3" url sums tmp name
  url="$(field "$tool" release | sed "s/{v}/$v/g")"; sums="$(field "$tool" sums | sed "s/{v}/$v/g")"
  [ -n "$url" ] || return 1
  tmp="$(mktemp -d)"
  if ! curl -fsSL --connect-timeout 5 --max-time 300 -o "$tmp/${url##*/}" "$url" 2>/dev/null \
     || ! curl -fsSL --connect-timeout 5 --max-time 60 -o "$tmp/SUMS" "$sums" 2>/dev/null; then
    rm -rf "$tmp"; return 1
  fi
  name="${url##*/}"
  (cd "$tmp" && grep " $name\$" SUMS | sha256sum -c --quiet -) || { rm -rf "$tmp"; die "$tool $v: checksum mismatch for $name"; }
  mkdir -p "$dest"
  case "$name" in
    *.zip) unzip -q -o "$tmp/$name" -d "$tmp/x" ;;
    *.tar.gz) mkdir -p "$tmp/x" && tar -C "$tmp/x" -xzf "$tmp/$name" ;;
  esac
  # versitygw's archive wraps its files in a folder of the archive's name
  find "$tmp/x" -maxdepth 2 -type f -name "${tool}*" -exec mv {} "$dest/$tool" \;
  rm -rf "$tmp"
  [ -x "$dest/$tool" ]
}

build_from_module() { # build_from_module TOOL VERSION DEST: go build from the module proxy
  local tool="$1" v="$2" dest="$3" module pkg modver ldflags json dir commit src
  module="$(field "$tool" module)"; pkg="$(field "$tool" package)"; modver="$(module_version "$tool" "$v")"
  ldflags="$(field "$tool" ldflags | sed "s/{v}/$v/g")"
  command -v go >/dev/null || die "$tool: no release reachable and no Go toolchain to build it; install Go or put $tool $v on PATH"
  log "$tool $v: building from $module@$modver (several minutes)"
  src="$cache/src/$tool-$v"
  rm -rf "$src"; mkdir -p "$cache/src"
  json="$(GOFLAGS=-mod=mod go mod download -json "$module@$modver" 2>/dev/null || true)"
  dir="$(module_dir <<<"$json")"
  if [ -n "$dir" ]; then
    commit="$(node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log((j.Origin&&j.Origin.Hash)||"")' <<<"$json")"
    cp -r "$dir" "$src"
  else
    # Some proxies serve a version's zip but not its .mod (old modules whose tag predates their
    # go.mod layout): take the zip itself and build it as the main module.
    commit=""
    fetch_module_zip "$module" "$modver" "$src" || die "$tool: $module@$modver is not on the Go module proxy"
  fi
  chmod -R u+w "$src"
  rm -rf "$src/vendor"  # an incomplete vendor folder would win over the module cache
  fix_nested_replaces "$src" "$commit"
  (cd "$src" && GOFLAGS=-mod=mod GOTOOLCHAIN=auto go build -trimpath -ldflags "$ldflags" -o "$dest/$tool" "$pkg") \
    >"$cache/src/$tool-$v.build.log" 2>&1 || { tail -30 "$cache/src/$tool-$v.build.log" >&2; die "$tool: go build failed (log: $cache/src/$tool-$v.build.log)"; }
  rm -rf "$src"
}

fetch_module_zip() { # fetch_module_zip MODULE VERSION DEST
  local proxy tmp
  proxy="$(go env GOPROXY | tr ',|' '\n\n' | grep -m1 '^http')" || return 1
  tmp="$(mktemp -d)"
  curl -fsSL --max-time 600 -o "$tmp/m.zip" "$proxy/$1/@v/$2.zip" || { rm -rf "$tmp"; return 1; }
  unzip -q "$tmp/m.zip" -d "$tmp/x"
  mv "$tmp/x/$1@$2" "$3"
  rm -rf "$tmp"
  log "  $1@$2: from the proxy's zip (its .mod is not served)"
}

pseudo_version_at() { # pseudo_version_at MODULE COMMIT: a listed pseudo-version built from COMMIT
  local proxy
  proxy="$(go env GOPROXY | tr ',|' '\n\n' | grep -m1 '^http')" || return 0
  curl -fsS --max-time 30 "$proxy/$1/@v/list" 2>/dev/null | grep -m1 -- "-${2:0:12}\$" || true
}

# A module zip leaves out nested modules that go.mod replaces with ./dir. Fill each dir with the
# nested module at the release commit (a pseudo-version the proxy lists), else at the version the
# require line names. The checksum database here may lack nested modules' entries, so those
# downloads skip it (GONOSUMDB for that module path only) and say so.
fix_nested_replaces() {
  local src="$1" commit="$2" old new required json ndir pseudo
  while IFS=$'\t' read -r old new required; do
    [ -d "$src/$new" ] && continue
    ndir=""
    if [ -n "$commit" ]; then
      pseudo="$(pseudo_version_at "$old" "$commit")"
      if [ -n "$pseudo" ]; then
        json="$(GONOSUMDB="$old" go mod download -json "$old@$pseudo" 2>/dev/null || true)"
        ndir="$(module_dir <<<"$json")"
        [ -n "$ndir" ] && log "  nested module $old: at the release commit ${commit:0:12}"
      fi
    fi
    if [ -z "$ndir" ] && [ -n "$required" ]; then
      json="$(GONOSUMDB="$old" go mod download -json "$old@$required" 2>/dev/null || true)"
      ndir="$(module_dir <<<"$json")"
      [ -n "$ndir" ] && log "  nested module $old: at its required version $required (checksum database skipped for it)"
    fi
    [ -n "$ndir" ] || die "nested module $old: neither the release commit nor $required is on the Go module proxy"
    mkdir -p "$src/$new"; cp -r "$ndir/." "$src/$new/"; chmod -R u+w "$src/$new"
  done < <(cd "$src" && go mod edit -json | node -e '
    const j=JSON.parse(require("fs").readFileSync(0));
    const req=Object.fromEntries((j.Require||[]).map(r=>[r.Path,r.Version]));
    for (const r of j.Replace||[]) if (r.New.Path.startsWith("./")||r.New.Path.startsWith("../")) console.log([r.Old.Path,r.New.Path,req[r.Old.Path]||""].join("\t"))')
}

# module_version TOOL VERSION: the module version to fetch; `moduleVersion` is the pinned version's.
module_version() {
  local m=""; [ "$2" = "$(field "$1" version)" ] && m="$(field "$1" moduleVersion)"
  echo "${m:-v$2}"
}

# copy_module_files TOOL VERSION DEST: the files versions.json lists under the tool's `files`
# (destination relative to DEST: path in the module), taken from the module source. Pebble's TLS
# certificate and its CA exist only there, and a build deletes its copy of the source.
copy_module_files() {
  local tool="$1" v="$2" dest="$3" module modver files dir to from
  files="$(node -e 'const f=require(process.argv[1])[process.argv[2]].files||{};for(const [to,from] of Object.entries(f))console.log(to+"\t"+from)' "$versions" "$tool")"
  [ -n "$files" ] || return 0
  module="$(field "$tool" module)"; modver="$(module_version "$tool" "$v")"
  command -v go >/dev/null || die "$tool: its files come from $module@$modver and no Go toolchain is here to download it"
  dir="$(GOFLAGS=-mod=mod go mod download -json "$module@$modver" 2>/dev/null | module_dir)"
  [ -n "$dir" ] || die "$tool: $module@$modver is not on the Go module proxy"
  while IFS=$'\t' read -r to from; do
    [ -f "$dir/$from" ] || die "$tool: $from is not in $module@$modver"
    mkdir -p "$(dirname "$dest/$to")"; cp "$dir/$from" "$dest/$to"; chmod 0644 "$dest/$to"
  done <<<"$files"
}

module_dir() { node -e 'try{const j=JSON.parse(require("fs").readFileSync(0));if(!j.Error)console.log(j.Dir)}catch{}'; }

# install_tool TOOL [VERSION]: the pinned version, linked as $bin/TOOL (a binary on PATH at that
# version is taken as it is); or VERSION, another one, only put in the cache.
install_tool() {
  local tool="$1" pinned v dest onpath
  pinned="$(field "$tool" version)"; v="${2:-$pinned}"
  dest="$cache/tools/$tool/$v"
  if [ "$v" = "$pinned" ]; then
    onpath="$(command -v "$tool" 2>/dev/null || true)"
    if [ -n "$onpath" ] && [ "$onpath" != "$bin/$tool" ] && tool_version_ok "$onpath" "$tool" "$v"; then
      ln -sfn "$onpath" "$bin/$tool"; log "$tool $v: on PATH ($onpath)"; return 0
    fi
  fi
  if [ ! -x "$dest/$tool" ]; then
    local tmp="$cache/tools/$tool/.tmp-$$"; rm -rf "$cache/tools/$tool"/.tmp-*; mkdir -p "$tmp"
    trap 'rm -rf "$tmp"' EXIT  # a failed build leaves nothing half-made behind
    if fetch_release "$tool" "$v" "$tmp"; then log "$tool $v: official release, checksum verified"
    else build_from_module "$tool" "$v" "$tmp"; fi
    copy_module_files "$tool" "$v" "$tmp"
    mkdir -p "$(dirname "$dest")"; rm -rf "$dest"; mv "$tmp" "$dest"
    trap - EXIT
    log "$tool $v: installed in $dest"
  else
    log "$tool $v: cached"
  fi
  if [ "$v" = "$pinned" ]; then ln -sfn "$dest/$tool" "$bin/$tool"; fi
}

# Terraform/OpenTofu find providers for offline use in a filesystem mirror named by a CLI config.
# The mirror is keyed by version: a new pin gets its own folder beside the old one.
install_provider_mirror() {
  local mirror="$cache/providers" tool v addr
  for tool in terraform-provider-digitalocean terraform-provider-docker; do
    v="$(field "$tool" version)"; addr="$(field "$tool" provider)"
    [ -x "$cache/tools/$tool/$v/$tool" ] || continue  # not installed yet (--tool installs one)
    local d="$mirror/registry.opentofu.org/$addr/$v/linux_amd64" h="$mirror/registry.terraform.io/$addr/$v/linux_amd64"
    mkdir -p "$d" "$h"
    ln -sfn "$cache/tools/$tool/$v/$tool" "$d/${tool}_v$v"
    ln -sfn "$cache/tools/$tool/$v/$tool" "$h/${tool}_v$v"
  done
  cat >"$cache/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
  }
}
RC
}

install_tools() {
  local t v
  for t in nomad consul traefik tofu terraform-provider-digitalocean terraform-provider-docker \
           pebble pebble-challtestsrv lego versitygw; do
    with_lock "$t" install_tool "$t"
    for v in $(also_cached "$t"); do with_lock "$t" install_tool "$t" "$v"; done
  done
  install_provider_mirror
}

install_images() { with_lock images bash "$repo/images/base/build.sh"; }

# The local target's stand-in for HashiCorp's apt repository, from the pinned nomad and consul.
install_agents_apt() { bash "$here/agents-apt.sh" >/dev/null; }

# The whole flow is one function, read before it runs: editing this file during a run is safe.
main() {
  local only="all" print_env=0 one_tool="" one_version  # one_version stays unset without @VERSION
  while [ $# -gt 0 ]; do
    case "$1" in
      --only) only="$2"; shift 2 ;;
      --print-env) print_env=1; shift ;;
      --tool) only="tool"; one_tool="${2%%@*}"
              if [[ "$2" == *@* ]]; then one_version="${2#*@}"; fi
              shift 2 ;;
      -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
      *) die "unknown option $1 (try --help)" ;;
    esac
  done
  if [ -n "${one_version+set}" ] && ! [[ "$one_version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]]; then
    die "--tool $one_tool@$one_version: the version must look like 3.6.14"
  fi
  case "$only" in
    all) install_packages; start_docker; install_tools; install_agents_apt; install_images ;;
    packages) install_packages ;;
    docker) start_docker ;;
    tools) install_tools; install_agents_apt ;;
    images) install_images ;;
    none) ;;
    tool) [ -n "$(field "$one_tool" version)" ] || die "unknown tool $one_tool (see src/tools/versions.json)"
          with_lock "$one_tool" install_tool "$one_tool" ${one_version:+"$one_version"}
          case "$one_tool" in terraform-provider-*) install_provider_mirror ;; esac ;;
    *) die "--only takes tools, packages, images, docker or none" ;;
  esac
  if [ "$print_env" = 1 ]; then
    echo "export PATH=\"$bin:\$PATH\""
    echo "export TF_CLI_CONFIG_FILE=\"$cache/terraformrc\""
  fi
  [ "$only" = none ] || log "done"
}

main "$@"; exit $?
