#!/bin/sh
# bench/run-recording.sh — build Kaigi and run the recording benchmark
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Rooms of 2, 4 and 6 participants (640x360 VP8 in, the server's default
# 1280x720 30 fps H.264 recording out). Per size: a window without
# recording, then a window of the same length while the room records; the
# difference in server CPU is the recorder's, split by thread. Prints a
# markdown table (with the revision, CPU model and the load average before
# and after) and keeps it, with per-run details and the server's log, in
# bench/results/.
#
# Environment: BUILD_DIR (default: build), SIZES (default: 2,4,6), WARMUP
# and DURATION in seconds (default 10 and 20), SETTLE (default 3),
# SERVER_ARGS (extra server arguments, e.g. "--config alt.conf" to try
# other recording settings), RECORDINGS_DIR to keep the recordings there
# (default: a temporary folder, emptied), PERF=1 to record the server with
# `perf record -g` during every recording window.

set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build}
sizes=${SIZES:-2,4,6}
warmup=${WARMUP:-10}
duration=${DURATION:-20}
settle=${SETTLE:-3}

if [ ! -d "$build" ]; then
  meson setup "$build" "$src"
fi
ninja -C "$build"

results="$src/bench/results"
mkdir -p "$results"
stamp=$(date +%Y%m%d-%H%M%S)
table="$results/recording-$stamp.md"
details="$results/recording-$stamp.details.txt"

set -- --header --record --participants "$sizes" --warmup "$warmup" --duration "$duration" \
  --record-settle "$settle" --stop-below-fps 0 --details "$details" \
  --server "$build/src/kaigi" --server-log "$results/recording-$stamp.server.log"
if [ -n "${SERVER_ARGS:-}" ]; then
  set -- "$@" --server-args "$SERVER_ARGS"
fi
if [ -n "${RECORDINGS_DIR:-}" ]; then
  mkdir -p "$RECORDINGS_DIR"
  set -- "$@" --recordings-dir "$RECORDINGS_DIR"
fi
if [ "${PERF:-0}" = 1 ]; then
  set -- "$@" --perf "$results/recording-$stamp.perf"
fi

before=$(uptime)
# Bounded: 3 sizes of ~70 s each
rc=$(mktemp)
{ timeout 600 "$build/bench/kaigi-bench" "$@"; echo $? > "$rc"; } | tee "$table"
status=$(cat "$rc")
rm -f "$rc"
after=$(uptime)

{
  echo
  echo "- load before: $before"
  echo "- load after:  $after"
} | tee -a "$table"

echo
echo "Table: $table"
echo "Details (recorder threads, queue levels, per-thread server CPU, …): $details"
exit $status
