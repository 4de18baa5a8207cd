#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (npm packages, Debian
# packages, the Docker engine, Nomad/Consul/Traefik/OpenTofu and providers, base images; all
# cached outside the clone), then builds, type-checks, lints and runs the unit and integration
# tests against the real programs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

step "npm packages"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "cluster tools, Docker engine and base images (cached in ~/.cache/elm-infra)"
bash src/tools/install.sh
eval "$(bash src/tools/install.sh --print-env --only none 2>/dev/null)"

step "build"
npm run --silent build

step "type-check and lint"
npm run --silent typecheck
npm run --silent lint

step "unit, integration and end-to-end tests"
report="$(mktemp)"
status=0
npx vitest run --project unit --project integration --project e2e --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line, whatever the reporter printed above.
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests+r.numTodoTests} skipped`)' "$report" || true
rm -f "$report"
exit "$status"
