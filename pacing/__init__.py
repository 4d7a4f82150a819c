"""Pacing: how many calls to start now. Pure computation: no I/O, no clock reads."""

__all__: list[str] = []
