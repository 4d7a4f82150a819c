"""The exceptions of ari_bridge.

    AriError
     ├── AriConnectionLost      Asterisk cannot be reached, or the link broke mid-request
     │    └── AriTimeout        a request got no answer within the request timeout
     ├── AriRequestError        Asterisk answered with an error status (status, channel id)
     │    └── ChannelGone       the channel the request named no longer exists
     └── AgiError               FastAGI: the server could not start or was misused

Busy, no answer and hang-ups are call outcomes (events), not exceptions.
"""

from __future__ import annotations


class AriError(Exception):
    """Base of every error ari_bridge raises."""


class AriConnectionLost(AriError):
    """Asterisk cannot be reached, or the HTTP/WebSocket link broke during a request."""


class AriTimeout(AriConnectionLost):
    """A request got no answer within the client's request timeout."""

    def __init__(self, method: str, path: str, timeout: float) -> None:
        self.method = method
        self.path = path
        self.timeout = timeout
        super().__init__(f"{method} {path}: no answer within {timeout:g} s")


class AriRequestError(AriError):
    """Asterisk answered a request with an error status.

    `status` is the HTTP status, `message` Asterisk's explanation, `channel_id` the
    channel the request was about (None when it was about none).
    """

    def __init__(self, method: str, path: str, status: int, message: str,
                 channel_id: str | None = None) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        self.channel_id = channel_id
        super().__init__(f"{method} {path}: {status} {message}".rstrip())


class ChannelGone(AriRequestError):
    """The channel a request named does not exist (any more): it was hung up."""


class AgiError(AriError):
    """The FastAGI server could not start, or was used wrongly."""
