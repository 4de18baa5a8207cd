#!/usr/bin/env bash
# `npm run local`: everything from a fresh clone to both sites served on this machine, the way
# production runs them.
#   1. npm packages and the build;  2. the cluster tools, Docker engine and base images;
#   3. `elm-infra bring-up --target local`: host containers acting as VMs (cluster.yaml's
#      targets.local: 1 manager + 2 workers), bootstrapped by Ansible, Traefik on every worker,
#      a load balancer on 127.0.0.1 (targets.local.ports.http);
#   4. both sites built from the fixtures (test/fixtures/sites), pushed to the target's registry and deployed.
#   --dev: instead of 3, single-process Consul, Nomad and Traefik agents on loopback ports (the
#   `dev` target: fast, not production-like), state and logs in .elm-infra/dev/.
# Usage: npm run local [-- --version <tag> | --dev | --stop | --destroy]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
state="$repo/.elm-infra/dev"
version="1.0.0"
log() { printf '\n== %s\n' "$*" >&2; }

# The agents' configuration and ports come from the TypeScript that also configures the test
# harness's agents (src/cluster/dev-agents.ts); the HTTP ports are cluster.yaml's
# targets.dev.endpoints. `configure_agents` writes them to $state/ports.env.
dev_agents() { node "$repo/dist/tools/dev-agents.js" "$@"; }
configure_agents() {
  mkdir -p "$state"
  dev_agents config "$state" >"$state/ports.env"
  # shellcheck source=/dev/null
  . "$state/ports.env"
}

stop_agents() {
  # shellcheck source=/dev/null
  [ -f "$state/ports.env" ] && . "$state/ports.env"
  for name in traefik nomad consul; do
    local pidfile="$state/$name.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      if [ "$name" = nomad ] && [ -n "${NOMAD_HTTP:-}" ]; then
        for job in elm-lang.org package.elm-lang.org; do
          NOMAD_ADDR="http://127.0.0.1:$NOMAD_HTTP" timeout 60 "$bin/nomad" job stop -purge -yes "$job" >/dev/null 2>&1 || true
        done
      fi
      # the agent leads its own process group (setsid): Nomad's logmon and docker_logger go too
      kill -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 -- "-$pid" 2>/dev/null || true
      echo "stopped $name (pid $pid)" >&2
    fi
    rm -f "$pidfile"
  done
  docker ps -aq --filter label=com.hashicorp.nomad.node_name=elm-infra-dev | xargs -r docker rm -f >/dev/null
}

answers() { curl -fsS --max-time 2 "$1" >/dev/null 2>&1; }

wait_for() { # wait_for NAME URL
  for _ in $(seq 1 120); do answers "$2" && return 0; sleep 1; done
  echo "$1 did not answer at $2 within 120 s; its log: $state/$1.log" >&2; tail -30 "$state/$1.log" >&2; exit 1
}

start() { # start NAME ARGV...: in the background, detached, pid and log in $state
  local name="$1"; shift
  nohup setsid env -u AWS_CA_BUNDLE -u NOMAD_ADDR -u NOMAD_TOKEN -u CONSUL_HTTP_ADDR -u CONSUL_HTTP_TOKEN "$@" >"$state/$name.log" 2>&1 </dev/null &
  echo $! >"$state/$name.pid"
}

start_agents() {
  if ! answers "http://127.0.0.1:$CONSUL_HTTP/v1/status/leader"; then
    start consul "$bin/consul" agent -dev -config-file="$state/consul.json"
  fi
  wait_for consul "http://127.0.0.1:$CONSUL_HTTP/v1/status/leader"
  if ! answers "http://127.0.0.1:$NOMAD_HTTP/v1/status/leader"; then
    start nomad "$bin/nomad" agent -dev -config="$state/nomad.hcl"
  fi
  wait_for nomad "http://127.0.0.1:$NOMAD_HTTP/v1/status/leader"
  if ! answers "http://127.0.0.1:$TRAEFIK_API/ping"; then
    start traefik "$bin/traefik" --configFile="$state/traefik.yml"
  fi
  wait_for traefik "http://127.0.0.1:$TRAEFIK_API/ping"
  # a job can be placed only on a ready node whose Docker driver is healthy: without one, stop here
  if ! dev_agents wait-node 120; then
    echo "Nomad's log ($state/nomad.log):" >&2; tail -40 "$state/nomad.log" >&2; exit 1
  fi
}

bin="${ELM_INFRA_CACHE:-$HOME/.cache/elm-infra}/bin"
mode=local
while [ $# -gt 0 ]; do
  case "$1" in
    --stop) stop_agents; exit 0 ;;
    --destroy) node dist/cli/main.js destroy --target local --yes; exit $? ;;
    --dev) mode=dev; shift ;;
    --version)
      [ $# -ge 2 ] || { echo "--version needs a tag, for example: npm run local -- --version 1.0.1" >&2; exit 2; }
      version="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

log "npm packages and build"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
npm run --silent build

log "cluster tools, Docker engine, base images (cached in ~/.cache/elm-infra)"
bash src/tools/install.sh

if [ "$mode" = dev ]; then
  configure_agents
  log "local agents: Consul :$CONSUL_HTTP, Nomad :$NOMAD_HTTP, Traefik :$TRAEFIK_WEB (state in .elm-infra/dev)"
  start_agents

  log "elm-lang.org@$version: image from the fixture site"
  node dist/cli/main.js image "elm-lang.org@$version" --context test/fixtures/sites/elm-lang.org/site --target dev --yes

  log "elm-lang.org@$version: deploy"
  node dist/cli/main.js deploy "elm-lang.org@$version" --target dev --yes
  entrypoint="http://127.0.0.1:$TRAEFIK_WEB"
  fetch() { echo "curl -H 'Host: $1' $entrypoint$2"; }
else
  log "bring-up of the local target (host containers as VMs; state in .elm-infra/local)"
  node dist/cli/main.js bring-up --target local --yes

  log "package.elm-lang.org's server, built from the fixture"
  pkg="$repo/.elm-infra/local/package-build"
  mkdir -p "$pkg"
  (cd test/fixtures/sites/package.elm-lang.org/server && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS=-mod=mod go build -trimpath -o "$pkg/server" .)

  log "elm-lang.org@$version and package.elm-lang.org@$version: build, push to the registry, deploy"
  node dist/cli/main.js deploy "elm-lang.org@$version" --build --context test/fixtures/sites/elm-lang.org/site --target local --yes
  node dist/cli/main.js deploy "package.elm-lang.org@$version" --build --context "$pkg" --target local --yes
  https_port="$(node -e 'const y=require("js-yaml");const c=y.load(require("fs").readFileSync("cluster.yaml","utf8"));console.log(c.targets.local.ports?.https??8443)')"
  # HTTPS, verified against the root of the target's Pebble (bring-up wrote it there).
  fetch() { echo "curl --cacert .elm-infra/local/ca.pem --resolve $1:$https_port:127.0.0.1 https://$1:$https_port$2"; }
fi

# What to type next: the patch after this version when it is x.y.z.
next="1.0.1"
if [[ "$version" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
  next="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))"
fi

log "done"
cat <<TXT
Served on this machine through $([ "$mode" = dev ] && echo "Traefik" || echo "the load balancer and Traefik on every worker"):
  $(fetch elm-lang.org /)
  $(fetch package.elm-lang.org /health)
  node dist/cli/main.js status --target $mode
  npm run local -- --version $next     # build and deploy another version (canary first)
  npm run local -- $([ "$mode" = dev ] && echo "--stop              # stop the agents" || echo "--destroy           # remove the hosts, network and volumes")
TXT
