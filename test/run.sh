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
# Two Vitest runs side by side: the e2e (one local cluster, its scenarios in sequence) and the
# unit then integration files (one at a time). Both spend most of their time waiting on agents,
# deployments and timers; one after the other they took 52 of the 55 minutes a warm run may take.
# (One Vitest run with both projects in one group still ran their files one after the other.)
# Their lines interleave; each run's own summary and the merged table below say what passed.
status=0
npx vitest run --project e2e --passWithNoTests --reporter=default --reporter=json --outputFile.json="$report.e2e" "$@" &
e2e=$!
# The unit and integration run yields the CPU to the e2e (nice 10, inherited by the agents and
# playbooks it starts): the e2e is the longer of the two and its probes and health checks are
# the ones that time out under load.
nice -n 10 npx vitest run --project unit --project integration --passWithNoTests --reporter=default --reporter=json --outputFile.json="$report.rest" "$@" || status=$?
wait "$e2e" || status=$?
# One report of both runs (for the table, the closing line and ELM_INFRA_TEST_REPORT).
node -e '
const fs = require("fs");
const [out, ...parts] = process.argv.slice(1);
const runs = parts.filter((p) => fs.existsSync(p)).map((p) => JSON.parse(fs.readFileSync(p, "utf8")));
const sum = (k) => runs.reduce((n, r) => n + (r[k] ?? 0), 0);
const merged = { ...runs[0], startTime: Math.min(...runs.map((r) => r.startTime)), success: runs.every((r) => r.success), testResults: runs.flatMap((r) => r.testResults) };
for (const k of Object.keys(runs[0] ?? {})) if (k.startsWith("num")) merged[k] = sum(k);
fs.writeFileSync(out, JSON.stringify(merged));
' "$report" "$report.e2e" "$report.rest" || status=1
rm -f "$report.e2e" "$report.rest"
# Where the time went: each e2e scenario, each integration file, each project.
node test/support/time-table.mjs "$report" || true
# One plain closing line, whatever the reporter printed above.
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests+r.numTodoTests} skipped`)' "$report" || true
[ -n "${ELM_INFRA_TEST_REPORT:-}" ] || rm -f "$report"
exit "$status"
