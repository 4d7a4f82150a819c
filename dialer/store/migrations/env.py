"""Alembic environment: runs on the connection `ensure_schema` hands over."""

from __future__ import annotations

from alembic import context

from dialer.store.schema import SCHEMA_METADATA

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the store's migrations run through dialer.store.ensure_schema(engine)")

context.configure(connection=connection, target_metadata=list(SCHEMA_METADATA),
                  render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
