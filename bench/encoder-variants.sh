#!/bin/sh
# bench/encoder-variants.sh — CPU of H.264 encoder settings on a real composite
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Usage: bench/encoder-variants.sh RECORDING.mp4 [FRAMES]
#
# Decodes the first FRAMES (default 300) video frames of a recording made
# by Kaigi (e.g. by `kaigi-bench --record --recordings-dir DIR`) to raw
# I420 once, then encodes them with each encoder setting below as fast as
# it can, and prints the CPU time (user + system) per second of video: the
# share of one core that setting needs to keep real time at the
# recording's frame rate, the size it produced, and how close its picture
# stays to the frames it was given (luma PSNR, mean and worst frame, and
# SSIM, by frame-quality.c). The frames are themselves decoded from a
# recording, so the picture columns compare settings with each other, not
# with the cameras. The first encoder row is what kaigi-media.c uses
# today. Nothing is changed in the server.

set -eu

build=${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
[ -x "$build/bench/frame-quality" ] || ninja -C "$build" bench/frame-quality
in=$1
frames=${2:-300}
raw=$(mktemp --suffix=.i420)
decoded=$(mktemp --suffix=.i420)
trap 'rm -f "$raw" "$decoded"' EXIT

caps=$(timeout 60 gst-launch-1.0 -v filesrc location="$in" ! qtdemux ! h264parse ! avdec_h264 \
  ! videoconvert ! video/x-raw,format=I420 ! identity eos-after="$frames" \
  ! filesink location="$raw" 2>/dev/null | grep -o 'caps = video/x-raw, format=(string)I420.*' | tail -1)
width=$(echo "$caps" | sed -n 's/.*width=(int)\([0-9]*\).*/\1/p')
height=$(echo "$caps" | sed -n 's/.*height=(int)\([0-9]*\).*/\1/p')
fps=$(echo "$caps" | sed -n 's/.*framerate=(fraction)\([0-9]*\)\/1.*/\1/p')
n=$(( $(stat -c %s "$raw") / (width * height * 3 / 2) ))
echo "$n frames of ${width}x${height} at $fps fps from $in; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| encoder settings | CPU % of one core at $fps fps | kbit/s | PSNR dB (worst frame) | SSIM |"
echo "|---|---|---|---|---|"

run () {
  out=$(mktemp)
  t=$( { /usr/bin/time -f '%U %S' timeout 300 gst-launch-1.0 -q filesrc location="$raw" \
    ! rawvideoparse format=i420 width="$width" height="$height" framerate="$fps"/1 \
    ! $1 ! filesink location="$out" >/dev/null; } 2>&1 | tail -1)
  cpu=$(echo "$t" | awk -v n="$n" -v fps="$fps" '{ printf "%.1f", 100 * ($1 + $2) / (n / fps) }')
  kbps=$(awk -v b="$(stat -c %s "$out")" -v n="$n" -v fps="$fps" 'BEGIN { printf "%.0f", b * 8 / (n / fps) / 1000 }')
  quality="—|—"
  if [ "$1" != identity ]; then
    timeout 300 gst-launch-1.0 -q filesrc location="$out" ! h264parse ! avdec_h264 \
      ! videoconvert ! video/x-raw,format=I420 ! filesink location="$decoded" >/dev/null
    quality=$("$build/bench/frame-quality" "$width" "$height" "$raw" "$decoded" \
      | sed -n 's/.* psnr=\([0-9.]*\) min-psnr=\([0-9.]*\) ssim=\([0-9.]*\)/\1 (\2)|\3/p')
  fi
  rm -f "$out"
  echo "| \`$1\` | $cpu | $kbps | ${quality%%|*} | ${quality#*|} |"
}

# the decode alone, to subtract nothing by mistake: raw file → fakesink
run "identity"
x264="x264enc tune=zerolatency bitrate=2500 key-int-max=60"
run "$x264 speed-preset=superfast subme=2"
run "$x264 speed-preset=veryfast"
run "$x264 speed-preset=veryfast me=dia"
run "$x264 speed-preset=veryfast subme=1"
run "$x264 speed-preset=superfast"
run "$x264 speed-preset=superfast subme=3"
run "$x264 speed-preset=ultrafast"
run "$x264 speed-preset=faster"
run "$x264 speed-preset=superfast subme=2 threads=1"
run "openh264enc bitrate=2500000 gop-size=60 complexity=low rate-control=bitrate"
