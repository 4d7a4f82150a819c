"""Alembic revision scripts, oldest first (loaded by Alembic from this folder)."""

__all__: list[str] = []
