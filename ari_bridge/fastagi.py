"""A small asyncio FastAGI server: dialplan `AGI(agi://host:port/<route>,args…)` calls.

Asterisk connects, sends its `agi_*` environment and a blank line; the server
picks the handler of `<route>` (the URL path, query string apart), awaits it with
a typed `AgiRequest`, sets the channel variables it returns (`SET VARIABLE`),
and closes the connection, which ends the `AGI()` application. The server holds
no policy: a handler decides; an unknown route, a handler error or a timeout
just closes the connection without setting anything, so a dialplan that presets
its result variable (e.g. `DNC_RESULT=error`) fails closed.

Every connection is its own task with its own deadlines: a read timeout per
line, a deadline for the whole environment block, limits on line length and
header count, and a handler timeout. Garbage, slow or half-open clients are
dropped without touching other connections. `close()` stops accepting, lets the
running requests finish within a grace period, then cancels the rest.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl

from ari_bridge.errors import AgiError
from dnc import mask_numbers_in_text

log = logging.getLogger(__name__)

_ENV_LINE = re.compile(r"agi_([a-z0-9_]+): ?(.*)")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\([^\"\s]*\))?")


class AgiProtocolError(Exception):
    """A FastAGI peer sent something that is not FastAGI (or too much of it)."""


@dataclass(frozen=True, slots=True, repr=False)
class AgiRequest:
    """One AGI() call: its route, arguments, query parameters and the `agi_*` environment."""

    route: str
    args: tuple[str, ...]
    query: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        args = tuple(mask_numbers_in_text(a) for a in self.args)
        return f"AgiRequest(route={self.route!r}, args={args!r}, channel={self.channel!r})"

    @property
    def channel(self) -> str:
        """The calling channel's name (`agi_channel`)."""
        return self.env.get("channel", "")

    @property
    def unique_id(self) -> str:
        """The calling channel's unique id (`agi_uniqueid`)."""
        return self.env.get("uniqueid", "")

    @property
    def context(self) -> str:
        """The dialplan context the AGI() call is in."""
        return self.env.get("context", "")


AgiHandler = Callable[[AgiRequest], Awaitable[Mapping[str, str]]]


def _quote(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise AgiError("an AGI variable value cannot contain a line break")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_variable_command(name: str, value: str) -> bytes:
    """The `SET VARIABLE` command line for one variable; AgiError if it cannot be sent."""
    if not _VARIABLE_NAME.fullmatch(name):
        raise AgiError(f"not a channel variable name: {name!r}")
    return f"SET VARIABLE {name} {_quote(str(value))}\n".encode()


def parse_environment(lines: list[str]) -> AgiRequest:
    """The request described by the `agi_*` lines of one connection."""
    env: dict[str, str] = {}
    for line in lines:
        match = _ENV_LINE.fullmatch(line)
        if match is None:
            raise AgiProtocolError("not an agi_* environment line")
        env[match.group(1)] = match.group(2)
    script = env.get("network_script", "")
    if not script:
        raise AgiProtocolError("no agi_network_script: not a FastAGI request")
    path, _, query = script.partition("?")
    args: list[str] = []
    index = 1
    while f"arg_{index}" in env:
        args.append(env[f"arg_{index}"])
        index += 1
    return AgiRequest(route=path.strip("/"), args=tuple(args),
                      query=dict(parse_qsl(query, keep_blank_values=True)), env=env)


class FastAgiServer:
    """Serves `AGI(agi://host:port/<route>,…)` with one async handler per route."""

    def __init__(self, routes: Mapping[str, AgiHandler], *, host: str = "127.0.0.1",
                 port: int = 4573, read_timeout: float = 5.0, header_timeout: float = 10.0,
                 handler_timeout: float = 10.0, max_line: int = 4096, max_headers: int = 256,
                 max_connections: int = 1000) -> None:
        self._routes = dict(routes)
        self.host = host
        self.port = port
        self._read_timeout = read_timeout
        self._header_timeout = header_timeout
        self._handler_timeout = handler_timeout
        self._max_line = max_line
        self._max_headers = max_headers
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.served = 0
        self.failed = 0
        self.refused = 0

    def __repr__(self) -> str:
        return f"FastAgiServer({self.host}:{self.port}, routes={sorted(self._routes)})"

    async def start(self) -> None:
        """Start listening (port 0 picks a free port, then `port` tells which)."""
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                      limit=self._max_line)
        except OSError as exc:
            raise AgiError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("FastAGI listening on %s:%d (routes: %s)", self.host, self.port,
                 ", ".join(sorted(self._routes)))

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting; give running requests `grace` s to finish, then cancel them."""
        if self._server is not None:
            self._server.close()
        pending = set(self._connections)
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def active(self) -> int:
        """Connections being served right now."""
        return len(self._connections)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self._max_connections:
            self.refused += 1
            writer.close()
            return
        self._connections.add(task)
        try:
            await self._converse(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()
            try:
                async with asyncio.timeout(self._read_timeout):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                pass

    async def _readline(self, reader: asyncio.StreamReader) -> str:
        async with asyncio.timeout(self._read_timeout):
            raw = await reader.readline()
        if not raw.endswith(b"\n"):
            raise AgiProtocolError("connection closed mid-line")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _read_environment(self, reader: asyncio.StreamReader) -> list[str]:
        lines: list[str] = []
        async with asyncio.timeout(self._header_timeout):
            while True:
                line = await self._readline(reader)
                if not line:
                    return lines
                if not line.startswith("agi_"):
                    raise AgiProtocolError("not an agi_* environment line")
                lines.append(line)
                if len(lines) > self._max_headers:
                    raise AgiProtocolError(f"more than {self._max_headers} environment lines")

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            request = parse_environment(await self._read_environment(reader))
        except (AgiProtocolError, TimeoutError, ValueError, ConnectionError) as exc:
            # ValueError: a line longer than max_line (asyncio.LimitOverrunError)
            self.failed += 1
            log.warning("FastAGI: dropped %s: %s", peer, _describe(exc))
            return
        handler = self._routes.get(request.route)
        if handler is None:
            self.failed += 1
            log.warning("FastAGI: no route %r (channel %s)", request.route, request.channel)
            return
        try:
            async with asyncio.timeout(self._handler_timeout):
                variables = await handler(request)
            commands = [set_variable_command(n, v) for n, v in variables.items()]
        except TimeoutError:
            self.failed += 1
            log.error("FastAGI: route %r timed out after %g s (channel %s)", request.route,
                      self._handler_timeout, request.channel)
            return
        except Exception:
            self.failed += 1
            log.exception("FastAGI: route %r failed (channel %s)", request.route, request.channel)
            return
        try:
            for command in commands:
                writer.write(command)
                await writer.drain()
                await self._await_result(reader)
        except (AgiProtocolError, TimeoutError, ValueError, ConnectionError) as exc:
            self.failed += 1
            log.warning("FastAGI: route %r (channel %s): %s", request.route, request.channel,
                        _describe(exc))
            return
        self.served += 1

    async def _await_result(self, reader: asyncio.StreamReader) -> None:
        """Read a command's answer: `200 result=…`, skipping a HANGUP notice."""
        while True:
            line = await self._readline(reader)
            if line == "HANGUP":
                continue
            if line.startswith("200"):
                return
            if line.startswith("520-"):
                while not (await self._readline(reader)).startswith("520 "):
                    pass
            raise AgiProtocolError(f"Asterisk answered {line[:60]!r}")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
