"""Alembic migrations of the store, run by `dialer.store.ensure_schema` (not a public API)."""

__all__: list[str] = []
