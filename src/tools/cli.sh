#!/usr/bin/env bash
# What `npm run <command>` runs (bring-up, deploy, status, ...): the CLI, set up first when the
# clone is fresh or src/ changed since the last build: the npm packages, then the build. Its own
# lines go to stderr, so that --json's output stays JSON. The cluster tools are not installed
# here (minutes, or half an hour where they are built from source): a command that needs one
# that is missing says so and names `npm run tools`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "elm-infra: installing the npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
main=dist/cli/main.js
if [ ! -f "$main" ] || [ -n "$(find src -name '*.ts' -newer "$main" -print -quit)" ]; then
  echo "elm-infra: building (npm run build)" >&2
  npm run --silent build >&2
fi
cd "$OLDPWD"
exec node "$root/$main" "$@"
