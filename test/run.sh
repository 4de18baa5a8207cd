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
# The JSON report is kept where ELM_INFRA_TEST_REPORT names (for docs/test-times.md:
# node test/support/time-table.mjs --before <old> --after <new> --out docs/test-times.md).
report="${ELM_INFRA_TEST_REPORT:-$(mktemp)}"
status=0
npx vitest run --project unit --project integration --project e2e --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# Where the time went: each e2e scenario, each integration file, each project.
node test/support/time-table.mjs "$report" || true
# One plain closing line, whatever the reporter printed above.
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests+r.numTodoTests} skipped`)' "$report" || true
[ -n "${ELM_INFRA_TEST_REPORT:-}" ] || rm -f "$report"
exit "$status"
