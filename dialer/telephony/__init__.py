"""The phone system as the engine sees it: a protocol, a real (ARI) and a simulated one."""

from dialer.telephony.ari import AriTelephony
from dialer.telephony.protocol import (
    CAUSE_BUSY,
    CAUSE_CONGESTION,
    CAUSE_FAILURE,
    CAUSE_NO_ANSWER,
    CAUSE_NO_RESPONSE,
    CAUSE_NORMAL,
    CAUSE_REJECTED,
    AgentLogin,
    CallAnswered,
    CallEnded,
    Dtmf,
    LiveChannel,
    OriginateRequest,
    Reconnected,
    Telephony,
    TelephonyError,
    TelephonyEvent,
)

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_public_surface.py checks)
    "AgentLogin",
    "AriTelephony",
    "CAUSE_BUSY",
    "CAUSE_CONGESTION",
    "CAUSE_FAILURE",
    "CAUSE_NORMAL",
    "CAUSE_NO_ANSWER",
    "CAUSE_NO_RESPONSE",
    "CAUSE_REJECTED",
    "CallAnswered",
    "CallEnded",
    "Dtmf",
    "LiveChannel",
    "OriginateRequest",
    "Reconnected",
    "Telephony",
    "TelephonyError",
    "TelephonyEvent",
]
