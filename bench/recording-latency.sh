#!/bin/sh
# bench/recording-latency.sh — what a recording adds to the server's own
# forwarding latency
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# One `kaigi-bench --record` run of N participants. The bench measures
# forwarding end to end, through its own clients, which share the machine
# with the server and so also slow down when the recorder takes CPU. This
# script captures the loopback device twice in the same run — in the
# window before the recording and in the recording window — and gives both
# captures to server-latency.py, which matches every forwarded copy to the
# packet that came in (by SSRC and the bench's packet counter): the
# latency of the server alone, without its clients.
#
# Needs root (tcpdump). Environment: BUILD_DIR (default: build), N (6),
# CAPTURE seconds per window (8), RUNS (1).

set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build}
n=${N:-6}
capture=${CAPTURE:-8}
runs=${RUNS:-1}
warmup=5
duration=$((capture + 8))
settle=3

command -v tcpdump >/dev/null || { echo "recording-latency: needs tcpdump (apt-get install tcpdump)" >&2; exit 2; }
[ -x "$build/bench/kaigi-bench" ] || ninja -C "$build"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Starts a capture when the bench's progress line matching $1 appears,
# $2 s later, for $capture s, into $3
capture_after () {
  while ! grep -q "$1" "$work/progress" 2>/dev/null; do sleep 0.2; done
  sleep "$2"
  timeout "$capture" tcpdump -i lo -s 256 --time-stamp-precision=nano -w "$3" udp 2>/dev/null || true
}

for run in $(seq 1 "$runs"); do
  : > "$work/progress"
  "$build/bench/kaigi-bench" -n "$n" -w "$warmup" -d "$duration" --record --record-settle "$settle" \
    > "$work/table.md" 2> "$work/progress" &
  bench=$!
  capture_after "all joined" $((warmup + 3)) "$work/before.pcap"
  capture_after "recording started" $((settle + 3)) "$work/recording.pcap"
  wait "$bench" || { echo "recording-latency: kaigi-bench failed" >&2; tail -5 "$work/progress" >&2; exit 1; }

  echo "run $run, N = $n, $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown), ${capture} s per capture"
  echo "before the recording:"
  "$src/bench/server-latency.py" "$work/before.pcap" | sed 's/^/  /'
  echo "while recording:"
  "$src/bench/server-latency.py" "$work/recording.pcap" | sed 's/^/  /'
  grep -E "^\| $n " "$work/table.md" | head -1 | cut -c1-200 || true
done
