"""Recordings: policy, consent announcement, encrypted storage, audited retrieval."""

__all__: list[str] = []
