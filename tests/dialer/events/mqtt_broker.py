"""A private Mosquitto for one test: its own port and config, killed and restarted at will."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_password(path: Path, user: str, password: str) -> None:
    """Add a user to a Mosquitto password file (mosquitto_passwd, hashed)."""
    args = ["mosquitto_passwd", "-b", str(path), user, password]
    if not path.exists():
        args.insert(1, "-c")
    subprocess.run(args, check=True, capture_output=True)


class PrivateBroker:
    """`mosquitto -c <folder>/mosquitto.conf` on a free port of 127.0.0.1.

    `extra` lines go into the listener's config (TLS files, password file…). `kill()`
    is SIGKILL (an abrupt broker death); `start()` again reuses the same port.
    """

    def __init__(self, folder: Path, extra: str = "", port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        # `user root`: keep the privileges needed to read the test's private folder
        self.conf.write_text(f"listener {self.port} 127.0.0.1\npersistence false\n"
                             f"user root\n{extra if extra else 'allow_anonymous true'}\n")
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """`mqtt://127.0.0.1:<port>`."""
        return f"mqtt://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 5.0) -> None:
        """Start it and wait until its port accepts connections."""
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                MOSQUITTO, "-c", str(self.conf), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self.proc.returncode is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto not listening after {timeout} s")
            await asyncio.sleep(0.02)

    async def kill(self) -> None:
        """SIGKILL the broker (no goodbye to any client) and reap it."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            async with asyncio.timeout(5):
                await self.proc.wait()
        self.proc = None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
