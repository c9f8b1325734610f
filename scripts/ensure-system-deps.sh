#!/usr/bin/env bash
# Makes sure the system tools the test suite drives as real processes are installed.
#
# Quiet and idempotent when everything is present. As root, installs the missing Debian
# packages with apt-get (one `apt-get update` first); otherwise prints the exact sudo command
# and exits 1. Package post-install scripts must not leave daemons running (rtpengine,
# redis-server, stunnel4, kamailio): service starts are blocked with a temporary policy-rc.d while apt
# runs, and any daemon that still appeared during the install is stopped afterwards.
set -euo pipefail

# ip and iptables live in /usr/sbin, which a non-root PATH often lacks.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# command -> Debian package that provides it.
TOOLS=(
  "redis-server:redis-server"
  "sipp:sip-tester"
  "stunnel4:stunnel4"
  "openssl:openssl"
  "ip:iproute2"
  "iptables:iptables"
  "docker-compose:docker-compose"
  "rtpengine:rtpengine-daemon"
  "taskset:util-linux"
  "ps:procps"
  "arping:iputils-arping"
  "kamailio:kamailio"
)
# Daemons whose packages may try to start them on install.
DAEMONS=(rtpengine redis-server stunnel4 stunnel kamailio)

# With arguments, only those commands are checked (`npm start` needs redis-server and sipp only).
if [[ $# -gt 0 ]]; then
  wanted=()
  for entry in "${TOOLS[@]}"; do
    for cmd in "$@"; do
      if [[ "${entry%%:*}" == "$cmd" ]]; then wanted+=("$entry"); fi
    done
  done
  TOOLS=("${wanted[@]}")
fi

missing_cmds=()
missing_pkgs=()
for entry in "${TOOLS[@]}"; do
  cmd="${entry%%:*}"
  pkg="${entry#*:}"
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing_cmds+=("$cmd")
    # Several commands may come from one package: list each package once.
    if [[ " ${missing_pkgs[*]-} " != *" $pkg "* ]]; then
      missing_pkgs+=("$pkg")
    fi
  fi
done

if [[ ${#missing_pkgs[@]} -eq 0 ]]; then
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "ensure-system-deps: missing commands: ${missing_cmds[*]}" >&2
  echo "ensure-system-deps: install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing_pkgs[*]}" >&2
  exit 1
fi

echo "ensure-system-deps: missing commands: ${missing_cmds[*]}"
echo "ensure-system-deps: installing: ${missing_pkgs[*]}"

# PIDs of daemons already running before the install: those are not ours to stop.
daemon_pids() {
  local name
  for name in "${DAEMONS[@]}"; do
    pgrep -x "$name" 2>/dev/null || true
  done | sort -u
}
before_pids="$(daemon_pids)"

# Block service starts from maintainer scripts (exit 101 = "action forbidden"), unless the
# machine already has a policy (Docker images ship one that does the same).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# temporary, written by sipfleet scripts/ensure-system-deps.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() {
  if [[ $created_policy -eq 1 ]]; then
    rm -f "$policy"
  fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" </dev/null

# Stop any daemon that appeared during the install (init scripts that ignore policy-rc.d).
after_pids="$(daemon_pids)"
new_pids="$(comm -13 <(printf '%s\n' "$before_pids") <(printf '%s\n' "$after_pids") | grep -v '^$' || true)"
if [[ -n "$new_pids" ]]; then
  echo "ensure-system-deps: stopping daemons started by the install: $(echo $new_pids)"
  for svc in rtpengine-daemon redis-server stunnel4 kamailio; do
    if [[ -x "/etc/init.d/$svc" ]]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
  done
  for pid in $new_pids; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    alive=0
    for pid in $new_pids; do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    [[ $alive -eq 0 ]] && break
    sleep 0.3
  done
  for pid in $new_pids; do
    kill -KILL "$pid" 2>/dev/null || true
  done
fi

still_missing=()
for entry in "${TOOLS[@]}"; do
  cmd="${entry%%:*}"
  if ! command -v "$cmd" >/dev/null 2>&1; then
    still_missing+=("$cmd")
  fi
done
if [[ ${#still_missing[@]} -gt 0 ]]; then
  echo "ensure-system-deps: still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
echo "ensure-system-deps: installed ${missing_pkgs[*]}"
