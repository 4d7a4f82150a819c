#!/usr/bin/env python3
"""Build an RTP pcap that SIPp can replay with <exec play_pcap_audio="..."/>.

One continuous RTP stream (one SSRC, contiguous seq/timestamps, 20 ms ptime)
made of segments, so audio, silence and RFC 4733 (RFC 2833) DTMF all share a
stream -- this matters because Asterisk's strictrtp latches on the first
source, and AMD needs frames to keep arriving during silences.

Segments (command-line arguments, in order):
  sil:MS            MS milliseconds of digital silence (G.711 0xFF / 0xD5)
  audio:FILE        raw 8 kHz G.711 file in the chosen law (sox -t ul / -t al)
  dtmf:D[:MS]       RFC 4733 event D (0-9,*,#,A-D), MS ms long (default 200),
                    followed by the usual 3 end packets, then audio resumes
  tone:HZ:MS        a sine tone (e.g. the voicemail beep)

Example:
  mkpcap.py -o human.pcap sil:400 audio:hello.ul sil:2500 audio:talk.ul
"""
import argparse
import math
import random
import struct
import sys

ETH = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00"
EVENTS = {c: i for i, c in enumerate("0123456789*#ABCD")}


def lin2ulaw(s):
    BIAS, CLIP = 0x84, 32635
    sign = 0x80 if s < 0 else 0
    if s < 0:
        s = -s
    s = min(s, CLIP) + BIAS
    exp = 7
    mask = 0x4000
    while exp > 0 and not (s & mask):
        exp -= 1
        mask >>= 1
    mant = (s >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF


def lin2alaw(s):
    sign = 0x80 if s >= 0 else 0
    if s < 0:
        s = -s - 1 if s > -32768 else 32767
    s = min(s, 32767)
    if s >= 256:
        exp = 7
        mask = 0x4000
        while exp > 1 and not (s & mask):
            exp -= 1
            mask >>= 1
        mant = (s >> (exp + 3)) & 0x0F
        val = (exp << 4) | mant
    else:
        val = s >> 4
    return (sign | val) ^ 0x55


def ip_checksum(hdr):
    if len(hdr) % 2:
        hdr += b"\0"
    s = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Writer:
    def __init__(self, law, pt, ev_pt, sport, dport):
        self.law, self.pt, self.ev_pt = law, pt, ev_pt
        self.sport, self.dport = sport, dport
        self.seq = random.randint(0, 30000)
        self.ts = random.randint(0, 1 << 30)
        self.ssrc = random.getrandbits(32)
        self.t = 0.0            # capture time (s)
        self.pkts = []
        self.first = True
        self.ipid = 1

    def _emit(self, pt, marker, ts, payload, dt=0.020, inc_seq=True):
        rtp = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt,
                          self.seq & 0xFFFF, ts & 0xFFFFFFFF, self.ssrc) + payload
        if inc_seq:
            self.seq += 1
        udp = struct.pack("!HHHH", self.sport, self.dport, 8 + len(rtp), 0) + rtp
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0xB8, 20 + len(udp), self.ipid & 0xFFFF,
                          0x4000, 64, 17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        self.ipid += 1
        iph = iph[:10] + struct.pack("!H", ip_checksum(iph)) + iph[12:]
        self.pkts.append((self.t, ETH + iph + udp))
        self.t += dt

    def audio_bytes(self, data):
        for i in range(0, len(data), 160):
            chunk = data[i:i + 160]
            if len(chunk) < 160:
                chunk += self.silence_byte() * (160 - len(chunk))
            self._emit(self.pt, self.first, self.ts, chunk)
            self.first = False
            self.ts += 160

    def silence_byte(self):
        return b"\xff" if self.law == "ulaw" else b"\xd5"

    def silence(self, ms):
        self.audio_bytes(self.silence_byte() * (8 * ms))

    def tone(self, hz, ms, amp=8000):
        enc = lin2ulaw if self.law == "ulaw" else lin2alaw
        n = 8 * ms
        self.audio_bytes(bytes(enc(int(amp * math.sin(2 * math.pi * hz * i / 8000))) for i in range(n)))

    def dtmf(self, digit, ms=200, volume=10):
        ev = EVENTS[digit.upper()]
        start_ts = self.ts
        steps = max(1, ms // 20)
        for k in range(1, steps + 1):
            dur = 160 * k
            self._emit(self.ev_pt, k == 1, start_ts, struct.pack("!BBH", ev, volume & 0x3F, dur))
        dur = 160 * steps
        end = struct.pack("!BBH", ev, 0x80 | (volume & 0x3F), dur)
        # the end packet is sent 3 times with the same seq and timestamp
        self._emit(self.ev_pt, False, start_ts, end, dt=0.0, inc_seq=False)
        self._emit(self.ev_pt, False, start_ts, end, dt=0.0, inc_seq=False)
        self._emit(self.ev_pt, False, start_ts, end, dt=0.020)
        self.ts = start_ts + dur + 160  # next audio packet after the event
        self.first = True               # marker bit on talkspurt restart

    def write(self, fn):
        with open(fn, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            base = 1_700_000_000.0
            for t, pkt in self.pkts:
                ts = base + t
                sec = int(ts)
                usec = round((ts - sec) * 1e6)
                if usec >= 1000000:
                    sec, usec = sec + 1, usec - 1000000
                f.write(struct.pack("<IIII", sec, usec, len(pkt), len(pkt)))
                f.write(pkt)


def build_pcap(segments, out, law="ulaw", event_pt=101, sport=6000, dport=30000):
    """Write the pcap for `segments` (strings as on the command line) to `out`.

    Returns the stream's length in seconds.
    """
    w = Writer(law, 0 if law == "ulaw" else 8, event_pt, sport, dport)
    for seg in segments:
        kind, _, rest = seg.partition(":")
        if kind == "sil":
            w.silence(int(rest))
        elif kind == "audio":
            with open(rest, "rb") as f:
                w.audio_bytes(f.read())
        elif kind == "dtmf":
            d, _, ms = rest.partition(":")
            w.dtmf(d, int(ms or 200))
        elif kind == "tone":
            hz, ms = rest.split(":")
            w.tone(float(hz), int(ms))
        else:
            raise ValueError(f"bad segment {seg!r}")
    w.write(out)
    return w.t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--law", choices=["ulaw", "alaw"], default="ulaw")
    ap.add_argument("--event-pt", type=int, default=101)
    ap.add_argument("--sport", type=int, default=6000)
    ap.add_argument("--dport", type=int, default=30000)
    ap.add_argument("segments", nargs="+")
    a = ap.parse_args()
    try:
        length = build_pcap(a.segments, a.out, a.law, a.event_pt, a.sport, a.dport)
    except ValueError as exc:
        sys.exit(str(exc))
    print(f"{a.out}: {length:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
