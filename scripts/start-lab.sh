#!/usr/bin/env bash
# `npm start`: make sure the lab's tools are there (redis-server for the two-dispatcher cluster and
# the ops API, sipp for the command it prints), then run `sipfleet lab`. As root missing packages
# are installed; otherwise the lab still starts, on the memory store with one dispatcher.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/ensure-system-deps.sh redis-server sipp; then
  echo "start-lab: continuing without them: memory store, one dispatcher, no ops API" >&2
fi
# The batched UDP I/O addon; without it the dispatchers run on node:dgram (node.udpIo: auto).
if ! bash scripts/build-native.sh; then
  echo "start-lab: continuing without the batched UDP I/O addon (node:dgram)" >&2
fi
exec node bin/sipfleet.ts lab "$@"
