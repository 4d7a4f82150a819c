"""The recordings package's exception tree.

    RecordingError
     ├── PolicyError            a campaign's recording policy is invalid or cannot be met
     ├── RecordingCryptoError   an encrypted recording cannot be turned back into audio
     │    ├── NotARecording         not a recording file of a known format version
     │    ├── UnknownRecordingKey   it names a data key the keyring does not hold
     │    └── RecordingTampered     authentication failed: tampered, truncated, reordered
     ├── ChecksumMismatch       decrypted, but not the audio its index row describes
     └── ArchiveError           a file step (move, merge, encrypt) failed; names the file
"""

from __future__ import annotations

from pathlib import Path


class RecordingError(Exception):
    """Base of every error this package raises on purpose."""


class PolicyError(RecordingError):
    """A recording policy is invalid (bad mode or toggle code) or cannot be met."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"recording.{field}: {message}" if field else message)


class RecordingCryptoError(RecordingError):
    """An encrypted recording cannot be decrypted; `path` names it when known."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class NotARecording(RecordingCryptoError):
    """The file does not start with a recording header of a known version."""


class UnknownRecordingKey(RecordingCryptoError):
    """The file was encrypted with a data key the keyring does not hold."""

    def __init__(self, key_id: str, *, path: str | Path | None = None) -> None:
        self.key_id = key_id
        super().__init__(f"data key {key_id!r} is not in the keyring (was it pruned, or is "
                         "this the wrong key file?)", path=path)


class RecordingTampered(RecordingCryptoError):
    """A chunk failed authentication: the file was altered, truncated, reordered or
    extended, or its header was edited. `chunk` is the index of the failing chunk."""

    def __init__(self, message: str, *, chunk: int, path: str | Path | None = None) -> None:
        self.chunk = chunk
        super().__init__(f"{message} (chunk {chunk})", path=path)


class ChecksumMismatch(RecordingError):
    """The decrypted audio's SHA-256 differs from the one in the recording's index row."""

    def __init__(self, expected: str, actual: str, *, path: str | Path | None = None) -> None:
        self.expected = expected
        self.actual = actual
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path or 'recording'}: SHA-256 of the audio is {actual[:16]}…, "
                         f"the index says {expected[:16]}… (a different file?)")


class ArchiveError(RecordingError):
    """A file step of archiving a recording failed (the plaintext is kept for recovery)."""

    def __init__(self, message: str, *, path: str | Path) -> None:
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")
