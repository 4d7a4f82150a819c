"""Recordings: policy, consent announcement, encrypted storage, audited retrieval.

    vault = Vault(settings.recordings_dir, settings.recording_spool_dir, keyring,
                  store.recordings, node_id=settings.node_id)
    await vault.recover()                              # at start: finish what a crash left
    await vault.archive(Segment(SpoolName(attempt_id, 1)))   # after Asterisk finished it
    with open(out, "wb") as dst:
        vault.decrypt_to(row, dst)                     # checks the label and the SHA-256

Decisions others rely on:
- Policy per campaign (`policy_of`): `never`, `on_demand` (the agent's toggle code, `*7`
  by default, starts and stops), `all`; an optional consent announcement (an Asterisk
  sound) is played to the bridge before the first segment; `stereo` records each leg
  with a snoop channel and stores one 2-channel WAV (left: customer, right: agent).
- On-demand segments are separate files and rows (`segment` 1, 2, …), never appended.
- Files (`layout.py`): spool name `dialer-<attempt>-<segment>[-c|-a].wav`; stored as
  `<recordings_dir>/<campaign>/<yyyy>/<mm>/<attempt>-<segment>.wav.enc`.
- Encryption (`stream.py`): chunked AES-256-GCM with a per-file HKDF subkey, 64 KiB
  chunks, chunk index and final flag bound; header names the key id and the label
  `<attempt>/<segment>`; SHA-256 of the audio is kept in the index row.
- This package never imports `dialer`: the index rows are behind `RecordingIndex`
  and the keyring behind `DataKeys` (both satisfied by the dialer's store and Keyring).
"""

from recordings.control import SNOOP_APP_TAG, AriRecordingControl, RecordingControl
from recordings.errors import (
    ArchiveError,
    ChecksumMismatch,
    NotARecording,
    PolicyError,
    RecordingCryptoError,
    RecordingError,
    RecordingTampered,
    UnknownRecordingKey,
)
from recordings.index import AttemptOwner, IndexedFile, NewRecording, RecordingIndex
from recordings.layout import (
    ENCRYPTED_SUFFIX,
    Layout,
    Leg,
    SpoolName,
    parse_spool_name,
    recording_label,
)
from recordings.policy import DEFAULT_TOGGLE_CODE, RecordingMode, RecordingPolicy, policy_of
from recordings.stream import (
    DEFAULT_CHUNK,
    DataKeys,
    Header,
    PlaintextReader,
    StreamResult,
    decrypt_stream,
    encrypt_stream,
    read_header,
)
from recordings.vault import DEFAULT_SETTLE_S, RecoveryReport, Segment, Vault
from recordings.wav import WavInfo, merge_to_stereo, repair_header, wav_info

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_public_surface.py checks)
    "ArchiveError", "AriRecordingControl", "AttemptOwner", "ChecksumMismatch",
    "DEFAULT_CHUNK", "DEFAULT_SETTLE_S", "DEFAULT_TOGGLE_CODE", "DataKeys",
    "ENCRYPTED_SUFFIX", "Header", "IndexedFile", "Layout", "Leg", "NewRecording",
    "NotARecording", "PlaintextReader", "PolicyError", "RecordingControl",
    "RecordingCryptoError", "RecordingError", "RecordingIndex", "RecordingMode",
    "RecordingPolicy", "RecordingTampered", "RecoveryReport", "SNOOP_APP_TAG", "Segment",
    "SpoolName", "StreamResult", "UnknownRecordingKey", "Vault", "WavInfo", "decrypt_stream",
    "encrypt_stream", "merge_to_stereo", "parse_spool_name", "policy_of", "read_header",
    "recording_label", "repair_header", "wav_info",
]
