"""An asyncio client for Asterisk's REST Interface (REST + events WebSocket)."""

__all__: list[str] = []
