"""The test rig's own logic: SIPp log parsing and agent DTMF schedules (no Asterisk)."""

from __future__ import annotations

import rig

LOG = """\
----------------------------------------------- 2026-11-26 16:49:01.123456
UDP message received [812] bytes :

INVITE sip:1555777001@127.0.0.1:25070 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:25060;rport;branch=z9hG4bKPj1
From: <sip:asterisk@127.0.0.1>;tag=abc
Call-ID: 5f0c-1
CSeq: 1 INVITE
Content-Length: 0

----------------------------------------------- 2026-11-26 16:49:01.124000
UDP message sent [300] bytes :

SIP/2.0 486 Busy Here
Call-ID: 5f0c-1
CSeq: 1 INVITE

----------------------------------------------- 2026-11-26 16:49:01.200000
UDP message received [500] bytes :

ACK sip:1555777001@127.0.0.1:25070 SIP/2.0
Call-ID: 5f0c-1

"""


def test_message_log_parsing() -> None:
    messages = rig.parse_message_log(LOG)
    assert [(m.received, m.method, m.status) for m in messages] == [
        (True, "INVITE", 0), (False, "", 486), (True, "ACK", 0)]
    invite = messages[0]
    assert invite.request_user == "1555777001"
    assert invite.headers["call-id"] == "5f0c-1"
    assert messages[1].request_user == ""


def test_agent_dtmf_codes_land_at_their_times() -> None:
    segments = rig.agent_script_segments([(20.0, "*9"), (30.0, "1")], speech=None)
    at_ms = 0
    pressed = []
    for seg in segments:
        kind, _, rest = seg.partition(":")
        if kind == "sil":
            at_ms += int(rest)
        elif kind == "dtmf":
            pressed.append((at_ms, rest.split(":")[0]))
            at_ms += 220
    assert pressed == [(20000, "*"), (20520, "9"), (30000, "1")]
    assert segments[-1] == "sil:2000"
