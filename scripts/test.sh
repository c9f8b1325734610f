#!/usr/bin/env bash
# The project's test command (`npm test`): system tools, dependencies, typecheck, then every
# vitest project (unit + e2e). Extra arguments go to `vitest run`, e.g.
#   npm test -- --project unit
#   bash scripts/test.sh test/support
# Works without a TTY or stdin (CI=true). The last lines are vitest's summary followed by one
# plain "vitest: N passed, N failed, N skipped" line that CI log readers understand.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/ensure-system-deps.sh

if [[ ! -d node_modules ]]; then
  npm ci </dev/null
fi

# The `node` devDependency provides Node 24 in node_modules/.bin; put it first so the TypeScript
# entry points, vitest and its workers all run on it even when the system node is older.
export PATH="$PWD/node_modules/.bin:$PATH"

# The dispatcher's batched UDP I/O addon: the suite runs the UDP listeners on it (and on node:dgram).
bash scripts/build-native.sh </dev/null

npx tsc -p tsconfig.json </dev/null

report_dir="$(mktemp -d)"
trap 'rm -rf "$report_dir"' EXIT
report="$report_dir/vitest.json"

vitest_args=(run --reporter=default --reporter=json --outputFile.json="$report" "$@")
status=0
if [[ -t 1 ]]; then
  npx vitest "${vitest_args[@]}" </dev/null || status=$?
else
  # Not a terminal (CI): drop the json reporter's "JSON report written to ..." notice so that
  # vitest's summary is followed only by the plain closing line below.
  set +e
  npx vitest "${vitest_args[@]}" </dev/null | grep --line-buffered -vF "JSON report written to $report"
  status=${PIPESTATUS[0]}
  set -e
fi

# One plain closing line computed from vitest's own JSON report.
if [[ -s "$report" ]]; then
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report" || true
fi

exit "$status"
