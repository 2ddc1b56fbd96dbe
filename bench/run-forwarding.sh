#!/bin/sh
# bench/run-forwarding.sh — build Kaigi and run the forwarding benchmark
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Runs rooms of 2, 4, 6, … participants through the real server (stopping
# once a subscription falls below 25 fps), then one run with 1 % loss at the
# largest size that kept 29 fps everywhere, then the two-client baseline
# without the server (with and without loss). Prints a markdown table and
# keeps it, with per-run details and the server's log, in bench/results/.
#
# Environment: BUILD_DIR (default: build), SIZES (default: 2,4,6,8,10,12,14,16),
# WARMUP and DURATION in seconds (default 10 and 20), LOSS (default 1),
# PERF=1 to record the server with `perf record -g` during every window.
# Everything runs on this machine; ICE uses only its own addresses.

set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build}
sizes=${SIZES:-2,4,6,8,10,12,14,16}
warmup=${WARMUP:-10}
duration=${DURATION:-20}
loss=${LOSS:-1}

if [ ! -d "$build" ]; then
  meson setup "$build" "$src"
fi
ninja -C "$build"
if [ ! -x "$build/bench/kaigi-bench" ]; then
  # bench/ is picked up when meson configures; an older build dir may
  # predate it
  meson setup --reconfigure "$build" "$src"
  ninja -C "$build"
fi

results="$src/bench/results"
mkdir -p "$results"
stamp=$(date +%Y%m%d-%H%M%S)
table="$results/forwarding-$stamp.md"
details="$results/forwarding-$stamp.details.txt"

set -- --header --participants "$sizes" --warmup "$warmup" --duration "$duration" \
  --loss-run "$loss" --baseline --details "$details" \
  --server "$build/src/kaigi" --server-log "$results/forwarding-$stamp.server.log"
if [ "${PERF:-0}" = 1 ]; then
  set -- "$@" --perf "$results/forwarding-$stamp.perf"
fi

# Bounded: at most 8 sizes + 3 more runs of ~45 s each
rc=$(mktemp)
{ timeout 900 "$build/bench/kaigi-bench" "$@"; echo $? > "$rc"; } | tee "$table"
status=$(cat "$rc")
rm -f "$rc"

echo
echo "Table: $table"
echo "Details (per-thread server CPU, join times, …): $details"
exit $status
