#!/usr/bin/env bash
# Generate the SIPp media once: speech from espeak-ng + sox inside the Asterisk
# root (so the host needs neither), compiled into RTP pcaps by mkpcap.py.
# Idempotent: does nothing when the media folder is complete.
#
#   DIALER_AST_ROOT   the root built by asterisk-conf/local-asterisk.sh build
#   DIALER_MEDIA_DIR  where the media go (default /var/lib/dialer/media)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${DIALER_AST_ROOT:-/var/lib/dialer/asterisk-root}
MEDIA=${DIALER_MEDIA_DIR:-/var/lib/dialer/media}
VERSION=4   # bump when the media below change
[ "$(cat "$MEDIA/.version" 2>/dev/null)" = "$VERSION" ] && exit 0
[ -x "$ROOT/usr/bin/espeak-ng" ] || { echo "make-media: no espeak-ng in $ROOT (run local-asterisk.sh build)" >&2; exit 1; }
tmp=$(mktemp -d "$MEDIA.XXXXXX")
trap 'rm -rf "$tmp" "$ROOT/tmp/dialer-tts.$$"' EXIT
mkdir -p "$ROOT/tmp/dialer-tts.$$"

say() {  # say NAME "text": 8 kHz mono mu-law, leading/trailing silence trimmed
  local name=$1 text=$2 t=/tmp/dialer-tts.$$
  chroot "$ROOT" espeak-ng -v en-us -s 160 -w "$t/$name.wav" "$text"
  chroot "$ROOT" sox -G "$t/$name.wav" -r 8000 -c 1 -t ul "$t/$name.ul" \
    silence 1 0.02 1% reverse silence 1 0.02 1% reverse
  cp "$ROOT$t/$name.ul" "$tmp/$name.ul"
}
say hello "Hello?"
say talk  "Yes, speaking. What is this about? Okay. That sounds interesting, tell me more about it please."
say vm    "Hi, you have reached the voicemail of John Smith. I am not able to take your call right now. Please leave your name, your number and a short message after the tone, and I will call you back as soon as possible. Thank you, and have a nice day."
say agent "Hello, this is Anna from the call center, thanks for taking my call. I am calling about your account."

P="python3 $HERE/mkpcap.py"
cd "$tmp"
# human: a short "Hello?" then silence (AMD says HUMAN after ~0.8 s of it), then talk ~30 s
$P -o human.pcap sil:400 audio:hello.ul sil:2500 audio:talk.ul sil:1500 audio:talk.ul sil:1500 \
   audio:talk.ul sil:1500 audio:talk.ul sil:1500 audio:talk.ul sil:3000
# opt-out: like a human ("Hello?", silence: AMD says HUMAN), presses 9 about 4 s after
# answer, then keeps talking
$P -o optout.pcap sil:400 audio:hello.ul sil:3000 dtmf:9:200 sil:1000 audio:talk.ul sil:500 \
   audio:talk.ul sil:3000
# answering machine: a 12 s greeting, the beep, then silence (recording)
$P -o machine.pcap sil:300 audio:vm.ul sil:300 tone:1000:500 sil:10000
# dead air: an answered line that sends only RTP silence
$P -o silence.pcap sil:30000
# (agent phones' pcaps are built per agent by tests/rig.py from agent.ul)
echo "$VERSION" >.version
rm -rf "$MEDIA"
mv "$tmp" "$MEDIA"
chmod 755 "$MEDIA"
trap 'rm -rf "$ROOT/tmp/dialer-tts.$$"' EXIT
echo "make-media: $(ls "$MEDIA" | tr '\n' ' ')" >&2
