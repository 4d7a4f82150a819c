"""A fake ARI server (aiohttp) speaking enough ARI for the client's unit tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class SeenRequest:
    """A REST request the fake server received."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    url: str


Handler = Callable[[SeenRequest], Awaitable[tuple[int, Any]]]


@dataclass
class FakeAri:
    """An aiohttp server speaking enough ARI for the client: REST routes and /ari/events."""

    requests: list[SeenRequest] = field(default_factory=list)
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    ws_queries: list[dict[str, str]] = field(default_factory=list)
    ws_headers: list[dict[str, str]] = field(default_factory=list)
    startup_time: str = "2026-01-01T00:00:00.000+0000"
    accept_ws: bool = True
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Answer METHOD /ari<path> with `handler` (default: 200 {})."""
        self.routes[(method, path)] = handler

    def reply(self, method: str, path: str, status: int, body: Any = None) -> None:
        """Answer METHOD /ari<path> with a fixed status and JSON body."""
        async def handler(_: SeenRequest) -> tuple[int, Any]:
            return status, body
        self.route(method, path, handler)

    def seen(self, method: str, path: str) -> list[SeenRequest]:
        """The requests received for METHOD /ari<path>."""
        return [r for r in self.requests if r.method == method and r.path == path]

    async def send(self, event: dict[str, Any]) -> None:
        """Send one event on every open events WebSocket."""
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(json.dumps(event))

    async def drop_websockets(self) -> None:
        """Close every events WebSocket (as an Asterisk restart would)."""
        self.connected.clear()
        for ws in list(self.sockets):
            await ws.close()

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len("/ari"):]
        raw = await request.read()
        seen = SeenRequest(request.method, path, dict(request.query),
                           json.loads(raw) if raw else None, dict(request.headers),
                           str(request.url))
        self.requests.append(seen)
        handler = self.routes.get((request.method, path))
        if handler is None:
            if path == "/asterisk/info":
                return web.json_response({"status": {"startup_time": self.startup_time}})
            return web.json_response({})
        status, body = await handler(seen)
        if status == 204:
            return web.Response(status=204)
        return web.json_response(body, status=status)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self.accept_ws:
            return web.Response(status=503)
        self.ws_queries.append(dict(request.query))
        self.ws_headers.append(dict(request.headers))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connected.set()
        async for message in ws:
            if message.type is WSMsgType.CLOSE:
                break
        return ws
