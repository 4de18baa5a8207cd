#!/usr/bin/env bash
# `npm run local`: everything from a fresh clone to elm-lang.org served on this machine.
#   1. npm packages and the build;  2. the cluster tools, Docker engine and base images;
#   3. real Consul, Nomad and Traefik agents on loopback ports (the `dev` target in cluster.yaml),
#      kept running in the background, state and logs in .elm-infra/dev/;
#   4. the elm-lang.org image built from a small fixture site;  5. `elm-infra deploy` of it.
# Usage: npm run local [-- --stop | --version <tag>]
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
while [ $# -gt 0 ]; do
  case "$1" in
    --stop) stop_agents; exit 0 ;;
    --version)
      [ $# -ge 2 ] || { echo "--version needs a tag, for example: npm run local -- --version 1.0.1" >&2; exit 2; }
      version="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

log "npm packages and build"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
npm run --silent build

log "cluster tools, Docker engine, base images (cached in ~/.cache/elm-infra)"
bash src/tools/install.sh

configure_agents
log "local agents: Consul :$CONSUL_HTTP, Nomad :$NOMAD_HTTP, Traefik :$TRAEFIK_WEB (state in .elm-infra/dev)"
start_agents

log "elm-lang.org@$version: image from the fixture site"
node dist/cli/main.js image "elm-lang.org@$version" --context test/fixtures/sites/elm-lang.org/site --target dev --yes

log "elm-lang.org@$version: deploy"
node dist/cli/main.js deploy "elm-lang.org@$version" --target dev --yes

# What to type next: the patch after this version when it is x.y.z.
next="1.0.1"
if [[ "$version" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
  next="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))"
fi

log "done"
cat <<TXT
elm-lang.org $version is served through Traefik on this machine:
  curl -H 'Host: elm-lang.org' http://127.0.0.1:$TRAEFIK_WEB/
  node dist/cli/main.js status --target dev
  npm run local -- --version $next     # build and deploy another version (canary first)
  npm run local -- --stop              # stop the agents
TXT
