"""The FastAGI server over raw sockets: requests, garbage, slow and half-open peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest

from ari_bridge import AgiError, AgiRequest, FastAgiServer
from ari_bridge.fastagi import AgiProtocolError, parse_environment, set_variable_command


def _environment(route: str, *args: str, channel: str = "PJSIP/8001-00000001") -> bytes:
    lines = [
        "agi_network: yes", f"agi_network_script: {route}",
        f"agi_request: agi://127.0.0.1:4573/{route}", f"agi_channel: {channel}",
        "agi_language: en", "agi_uniqueid: 1700000000.42", "agi_callerid: 8001",
        "agi_context: dialer-manual", "agi_extension: check", "agi_priority: 2",
    ] + [f"agi_arg_{i}: {a}" for i, a in enumerate(args, 1)]
    return ("\n".join(lines) + "\n\n").encode()


class Asterisk:
    """The Asterisk side of one FastAGI connection, answering commands like Asterisk."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Asterisk:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, route: str, *args: str, hangup_first: bool = False) -> list[str]:
        """Send the environment, answer every command with 200; the commands, in order."""
        self.writer.write(_environment(route, *args))
        await self.writer.drain()
        commands = []
        while line := await asyncio.wait_for(self.reader.readline(), 5):
            commands.append(line.decode().rstrip("\n"))
            if hangup_first:
                self.writer.write(b"HANGUP\n")
                hangup_first = False
            self.writer.write(b"200 result=1\n")
            await self.writer.drain()
        self.writer.close()
        return commands

    async def closed_by_server(self) -> bool:
        """True when the server closes the connection (reads EOF) within 5 s."""
        try:
            data = await asyncio.wait_for(self.reader.read(), 5)
        except ConnectionResetError:
            return True
        finally:
            self.writer.close()
        return data == b""


async def _dnc(request: AgiRequest) -> Mapping[str, str]:
    number = request.args[0] if request.args else ""
    return {"DNC_RESULT": "blocked" if number.endswith("9") else "allowed"}


@pytest.fixture
async def agi() -> AsyncIterator[FastAgiServer]:
    release = asyncio.Event()

    async def slow(_: AgiRequest) -> Mapping[str, str]:
        await release.wait()
        return {"SLOW": "done"}

    async def broken(_: AgiRequest) -> Mapping[str, str]:
        raise RuntimeError("the DNC store is down")

    async def echo(request: AgiRequest) -> Mapping[str, str]:
        return {"ROUTE_QUERY": request.query.get("campaign", ""),
                "ARGS": "|".join(request.args), "QUOTED": 'say "hi" \\ bye'}

    server = FastAgiServer({"dnc-check": _dnc, "slow": slow, "broken": broken, "echo": echo},
                           port=0, read_timeout=0.5, header_timeout=1.0, handler_timeout=1.0,
                           max_line=512, max_headers=40)
    server.release = release  # type: ignore[attr-defined]
    async with server:
        yield server
    release.set()


async def test_a_route_sets_the_variables_its_handler_returns(agi: FastAgiServer) -> None:
    allowed = await (await Asterisk.connect(agi.port)).request("dnc-check", "15551230001")
    blocked = await (await Asterisk.connect(agi.port)).request("dnc-check", "15551230009")
    assert allowed == ['SET VARIABLE DNC_RESULT "allowed"']
    assert blocked == ['SET VARIABLE DNC_RESULT "blocked"']
    assert agi.served == 2


async def test_query_arguments_and_quoting(agi: FastAgiServer) -> None:
    commands = await (await Asterisk.connect(agi.port)).request(
        "echo?campaign=spring", "a b", "", "c", hangup_first=True)
    assert commands == ['SET VARIABLE ROUTE_QUERY "spring"', 'SET VARIABLE ARGS "a b||c"',
                        'SET VARIABLE QUOTED "say \\"hi\\" \\\\ bye"']


@pytest.mark.parametrize("route", ["nowhere", "broken"])
async def test_unknown_routes_and_failing_handlers_set_nothing(agi: FastAgiServer,
                                                              route: str) -> None:
    assert await (await Asterisk.connect(agi.port)).request(route, "1555") == []
    assert agi.failed == 1 and agi.served == 0


async def test_a_handler_that_takes_too_long_is_abandoned(agi: FastAgiServer) -> None:
    assert await (await Asterisk.connect(agi.port)).request("slow") == []
    assert agi.failed == 1


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x00\xff\xfe binary \x01\n\n",
    b"agi_network_script: dnc-check\nagi_broken line without colon\n\n",
    b"agi_network: yes\n\n",                                   # no script: not FastAGI
    b"agi_network_script: dnc-check\nagi_arg_1: " + b"9" * 600 + b"\n\n",   # line too long
    b"".join(b"agi_x%d: y\n" % i for i in range(50)) + b"\n",               # too many lines
])
async def test_garbage_is_dropped(agi: FastAgiServer, garbage: bytes) -> None:
    peer = await Asterisk.connect(agi.port)
    peer.writer.write(garbage)
    await peer.writer.drain()
    assert await peer.closed_by_server()
    assert agi.failed == 1 and agi.served == 0


async def test_half_open_and_slow_peers_never_block_others(agi: FastAgiServer) -> None:
    silent = await Asterisk.connect(agi.port)            # connects, never says a word
    dripping = await Asterisk.connect(agi.port)          # one byte at a time, forever
    drip = asyncio.create_task(_drip(dripping.writer, _environment("dnc-check", "1")))
    answers = await asyncio.gather(*[
        (await Asterisk.connect(agi.port)).request("dnc-check", f"1555000{i:04d}")
        for i in range(5)])
    assert all(a == ['SET VARIABLE DNC_RESULT "allowed"'] for a in answers)
    assert await silent.closed_by_server()               # the read timeout ends it
    assert await dripping.closed_by_server()             # the header deadline ends it
    drip.cancel()
    assert agi.served == 5 and agi.failed == 2


async def _drip(writer: asyncio.StreamWriter, data: bytes) -> None:
    for byte in data:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)


async def test_many_concurrent_requests(agi: FastAgiServer) -> None:
    async def one(i: int) -> list[str]:
        return await (await Asterisk.connect(agi.port)).request("dnc-check", f"1555{i:06d}")
    answers = await asyncio.gather(*[one(i) for i in range(200)])
    assert sum(a == ['SET VARIABLE DNC_RESULT "blocked"'] for a in answers) == 20
    assert sum(a == ['SET VARIABLE DNC_RESULT "allowed"'] for a in answers) == 180
    assert agi.served == 200 and agi.active == 0


async def test_close_lets_running_requests_finish() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(_: AgiRequest) -> Mapping[str, str]:
        started.set()
        await release.wait()
        return {"DONE": "yes"}

    server = FastAgiServer({"slow": slow}, port=0, handler_timeout=5)
    await server.start()
    call = asyncio.create_task((await Asterisk.connect(server.port)).request("slow"))
    await asyncio.wait_for(started.wait(), 5)
    closing = asyncio.create_task(server.close(grace=5))
    await asyncio.sleep(0)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)   # no longer accepting
    release.set()
    assert await asyncio.wait_for(call, 5) == ['SET VARIABLE DONE "yes"']
    await asyncio.wait_for(closing, 5)


async def test_close_cancels_requests_past_the_grace_period() -> None:
    started = asyncio.Event()

    async def stuck(_: AgiRequest) -> Mapping[str, str]:
        started.set()
        await asyncio.Event().wait()
        return {}

    server = FastAgiServer({"stuck": stuck}, port=0, handler_timeout=60)
    await server.start()
    peer = await Asterisk.connect(server.port)
    call = asyncio.create_task(peer.request("stuck"))
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(server.close(grace=0.1), 5)
    assert await asyncio.wait_for(call, 5) == []
    assert server.active == 0


async def test_listening_on_a_taken_port_is_an_agi_error(agi: FastAgiServer) -> None:
    with pytest.raises(AgiError):
        await FastAgiServer({}, port=agi.port).start()


def test_environment_parsing_and_command_checks() -> None:
    request = parse_environment(_environment("dnc-check?x=1&y=", "15551230001").decode()
                                .splitlines()[:-1])
    assert (request.route, request.args, dict(request.query)) == (
        "dnc-check", ("15551230001",), {"x": "1", "y": ""})
    assert request.channel == "PJSIP/8001-00000001" and request.unique_id == "1700000000.42"
    assert request.context == "dialer-manual"
    assert "15551230001" not in repr(request) and "dnc-check" in repr(request)
    with pytest.raises(AgiProtocolError):
        parse_environment(["agi_network: yes"])
    assert set_variable_command("CDR(userfield)", "x") == b'SET VARIABLE CDR(userfield) "x"\n'
    with pytest.raises(AgiError):
        set_variable_command("BAD NAME", "x")
    with pytest.raises(AgiError):
        set_variable_command("OK", "two\nlines")
