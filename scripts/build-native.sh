#!/usr/bin/env bash
# Builds the dispatcher's batched UDP I/O addon (dispatcher/transport/native/udp-io.c) into
# dispatcher/transport/native/build/udp-io.node, against the headers of the Node that runs the
# project (node_modules/.bin/node, Node 24). Linux only; quiet when the build is up to date.
#
# Needs a C compiler and libc headers: as root, missing ones are installed with apt-get
# (gcc, libc6-dev); otherwise the exact command is printed and the script exits 1. Without the
# addon the dispatcher still runs, on node:dgram (node.udpIo: auto), and says so in its log.
set -euo pipefail
self="$(readlink -f "${BASH_SOURCE[0]}")"
cd "$(dirname "$self")/.."

src=dispatcher/transport/native/udp-io.c
out=dispatcher/transport/native/build/udp-io.node

if [[ "$(uname -s)" != Linux ]]; then
  echo "build-native: the batched UDP I/O addon is Linux-only; the dispatcher uses node:dgram" >&2
  exit 0
fi

export PATH="$PWD/node_modules/.bin:$PATH"
# The headers beside the Node binary: the node@24 package keeps them in its platform package.
include=""
for dir in "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node" node_modules/node/node_modules/node-linux-*/include/node; do
  if [[ -f "$dir/node_api.h" ]]; then include="$dir"; break; fi
done
if [[ -z "$include" ]]; then
  echo "build-native: no Node-API headers found (run npm ci first: the node@24 package brings them)" >&2
  exit 1
fi

if [[ -f "$out" && "$out" -nt "$src" && "$out" -nt "$self" && "$out" -nt "$include/node_api.h" ]]; then
  exit 0
fi

can_compile() {
  command -v gcc >/dev/null 2>&1 && printf '#include <sys/socket.h>\nint main(void){return 0;}\n' | gcc -x c -o /dev/null - >/dev/null 2>&1
}
if ! can_compile; then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "build-native: no working C compiler; install one with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends gcc libc6-dev" >&2
    exit 1
  fi
  echo "build-native: installing gcc libc6-dev"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
  can_compile || { echo "build-native: gcc still cannot compile after the install" >&2; exit 1; }
fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
gcc -std=gnu11 -O2 -fPIC -shared -Wall -Wextra -Wno-unused-parameter \
  -DNODE_GYP_MODULE_NAME=udp_io -I"$include" -o "$tmp" "$src"
mv -f "$tmp" "$out"
echo "build-native: built $out"
