#!/usr/bin/env python3
# bench/server-latency.py — the latency the server alone adds, from a capture
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# kaigi-bench stamps every published RTP packet with a one-byte header
# extension (id 14: a per-track packet counter and the send time). SRTP
# leaves RTP headers, extensions included, unencrypted (RFC 3711 §3.1), so
# in a capture of the loopback device each packet appears once on its way
# into the server and once per subscriber on its way out, all with the same
# (SSRC, counter). The first sighting is the packet entering the server's
# socket, the others the forwarded copies leaving it: their difference is
# the server's own latency, without the clients' processing.
#
#   tcpdump -i lo -s 256 --time-stamp-precision=nano -w cap.pcap udp &
#   … while kaigi-bench runs …
#   bench/server-latency.py cap.pcap

import struct
import sys

EXT_ID = 14


def packets(path):
    with open(path, 'rb') as f:
        header = f.read(24)
        magic, = struct.unpack('<I', header[:4])
        if magic == 0xa1b23c4d:
            scale = 1e-9
        elif magic == 0xa1b2c3d4:
            scale = 1e-6
        else:
            sys.exit('not a little-endian pcap file')
        linktype, = struct.unpack('<I', header[20:24])
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack('<IIII', rec)
            data = f.read(incl)
            yield sec + frac * scale, linktype, data


def udp_payload(linktype, data):
    if linktype == 1:            # Ethernet (Linux loopback)
        ethertype, = struct.unpack('!H', data[12:14])
        data = data[14:]
    elif linktype == 113:        # Linux cooked
        ethertype, = struct.unpack('!H', data[14:16])
        data = data[16:]
    else:
        return None
    if ethertype == 0x0800:
        ihl = (data[0] & 0x0f) * 4
        if data[9] != 17:
            return None
        return data[ihl + 8:]
    if ethertype == 0x86dd:
        if data[6] != 17:
            return None
        return data[48:]
    return None


def stamp(payload):
    if len(payload) < 12 or payload[0] & 0xc0 != 0x80 or 192 <= payload[1] <= 223:
        return None
    if not payload[0] & 0x10:
        return None
    pos = 12 + 4 * (payload[0] & 0x0f)
    if len(payload) < pos + 4:
        return None
    profile, words = struct.unpack('!HH', payload[pos:pos + 4])
    if profile != 0xbede:
        return None
    pos += 4
    end = min(pos + 4 * words, len(payload))
    while pos < end:
        b = payload[pos]
        if b == 0:
            pos += 1
            continue
        ident, length = b >> 4, (b & 0x0f) + 1
        if ident == EXT_ID and length == 12:
            counter, = struct.unpack('!I', payload[pos + 1:pos + 5])
            ssrc, = struct.unpack('!I', payload[8:12])
            return ssrc, counter
        pos += 1 + length
    return None


def main():
    first = {}
    delays = []
    kinds = {}
    for t, linktype, data in packets(sys.argv[1]):
        payload = udp_payload(linktype, data)
        key = stamp(payload) if payload else None
        if key is None:
            continue
        if key not in first:
            first[key] = t
            kinds[key] = payload[1] & 0x7f
        else:
            delays.append((t - first[key], kinds[key]))
    if not delays:
        sys.exit('no forwarded kaigi-bench packets in the capture')
    for name, pts in (('video', {96}), ('audio', {111}), ('all', None)):
        d = sorted(x for x, pt in delays if pts is None or pt in pts)
        if not d:
            continue
        pick = lambda p: d[min(len(d) - 1, int(p / 100 * len(d)))] * 1000
        print(f'{name}: {len(d)} forwarded copies of {len(first)} packets; server latency '
              f'p50 {pick(50):.3f} ms, p90 {pick(90):.3f} ms, p99 {pick(99):.3f} ms, '
              f'max {d[-1] * 1000:.1f} ms')


if __name__ == '__main__':
    main()
