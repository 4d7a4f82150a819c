"""The test rig: a local Asterisk instance (asterisk-conf/local-asterisk.sh) and SIPp peers.

Used by the `asterisk`-marked tests (fixtures in tests/conftest.py), the ARI benchmark
and `make demo`. As a script it starts and stops the demo's peers:

    python tests/rig.py peers up   [--agents 1]     # customers + agents for the dev instance
    python tests/rig.py peers down

SIPp customers pick their behaviour from the last digit of a `+E.164` dialled user
part, or the first digit of one without `+` (tests/sipp/README.md); agent phones log in with `*55<id>*<pin>` and send DTMF codes
at the times given when they start. The demo's agents dial again until their login
reaches the application (it may connect after them).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "asterisk-conf" / "local-asterisk.sh"
SIPP_DIR = REPO / "tests" / "sipp"
ROOT = Path(os.environ.get("DIALER_AST_ROOT", "/var/lib/dialer/asterisk-root"))
MEDIA_DIR = Path(os.environ.get("DIALER_MEDIA_DIR", "/var/lib/dialer/media"))
INSTANCES = ROOT / "srv" / "dialer"


class RigError(RuntimeError):
    """The rig could not do what a test asked (the message says why)."""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that is free right now (TCP by default, or SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_udp_block(size: int = 4) -> int:
    """The first of `size` consecutive free UDP ports on 127.0.0.1 (for SIPp's -mp)."""
    for _ in range(50):
        base = free_port(socket.SOCK_DGRAM) & ~1
        socks = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise RigError("no block of free UDP ports found")


def _run(args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise RigError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
                       f"{proc.stdout[-2000:]}")
    return proc.stdout


def ensure_media() -> Path:
    """Build the Asterisk root and the SIPp media if they are missing; the media folder."""
    _run([str(SCRIPT), "build"])
    _run([str(SIPP_DIR / "make-media.sh")])
    return MEDIA_DIR


# -- Asterisk ---------------------------------------------------------------------------


@dataclass
class AsteriskInstance:
    """One running instance of the local Asterisk and how to reach it."""

    name: str
    env: dict[str, str]

    @property
    def ari_url(self) -> str:
        """Base URL of ARI (without /ari)."""
        return self.env["DIALER_ARI_URL"]

    @property
    def ari_user(self) -> str:
        """The ARI user."""
        return self.env["DIALER_ARI_USER"]

    @property
    def ari_password(self) -> str:
        """The instance's generated ARI password."""
        return Path(self.env["DIALER_ARI_PASSWORD_FILE"]).read_text().strip()

    @property
    def sip_port(self) -> int:
        """Asterisk's SIP (UDP) port on 127.0.0.1."""
        return int(self.env["DIALER_AST_SIP"].rsplit(":", 1)[1])

    @property
    def trunk(self) -> str:
        """The PJSIP trunk endpoint that leads to the SIPp customers."""
        return self.env["DIALER_AST_TRUNK"]

    @property
    def trunk_port(self) -> int:
        """The UDP port the trunk sends calls to (where SIPp customers must listen)."""
        return int(self.env["DIALER_AST_TRUNK_CONTACT"].rsplit(":", 1)[1])

    @property
    def agi_port(self) -> int:
        """The port the dialplan's AGI() calls connect to."""
        return int(self.env["DIALER_AST_AGI"].rsplit(":", 1)[1])

    @property
    def spool_dir(self) -> Path:
        """Asterisk's spool folder, host side."""
        return Path(self.env["DIALER_AST_SPOOL"])

    @property
    def recording_dir(self) -> Path:
        """Where ARI recordings land, host side."""
        return self.spool_dir / "recording"

    @property
    def log_dir(self) -> Path:
        """Asterisk's log folder (full, messages.log), host side."""
        return Path(self.env["DIALER_AST_LOG"])

    def _script(self, *args: str, timeout: float = 120) -> str:
        return _run([str(SCRIPT), *args], env={**os.environ, "DIALER_AST_NAME": self.name},
                    timeout=timeout)

    def cli(self, command: str) -> str:
        """Run one Asterisk CLI command and return its output."""
        return self._script("cli", command, timeout=30)

    def restart(self) -> None:
        """Stop and start Asterisk (same configuration and ports)."""
        self._script("down")
        self._script("up")

    def stop(self, remove: bool = False) -> None:
        """Stop Asterisk; with `remove`, delete the instance's folder too."""
        self._script("remove" if remove else "down")

    @classmethod
    def start(cls, name: str, **ports: int | str) -> AsteriskInstance:
        """Start (or reconfigure) instance `name`; keyword args become DIALER_AST_<KEY>."""
        env = {**os.environ, "DIALER_AST_NAME": name}
        env.update({f"DIALER_AST_{k.upper()}": str(v) for k, v in ports.items()})
        _run([str(SCRIPT), "up"], env=env)
        return cls.existing(name)

    @classmethod
    def existing(cls, name: str) -> AsteriskInstance:
        """An instance started before (reads its instance.env)."""
        path = INSTANCES / name / "instance.env"
        if not path.exists():
            raise RigError(f"instance {name} has never been up ({path} is missing)")
        values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        return cls(name, values)


def start_test_instance(prefix: str = "pytest") -> AsteriskInstance:
    """A fresh instance on free ports, named after this process; stale ones are removed."""
    remove_stale_instances(prefix)
    ensure_media()
    return AsteriskInstance.start(
        f"{prefix}-{os.getpid()}",
        http_port=free_port(), sip_port=free_port(socket.SOCK_DGRAM),
        ami_port=free_port(), rtp_start=32000, rtp_end=39998,
        trunk_contact=f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}",
        agi=f"127.0.0.1:{free_port()}")


def remove_stale_instances(prefix: str) -> None:
    """Remove test instances whose test process is gone."""
    if not INSTANCES.is_dir():
        return
    for path in INSTANCES.glob(f"{prefix}-*"):
        pid = path.name.rsplit("-", 1)[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            AsteriskInstance(path.name, {}).stop(remove=True)


# -- SIPp ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SipMessage:
    """One SIP message from a SIPp -trace_msg log."""

    received: bool
    first_line: str
    headers: dict[str, str]

    @property
    def method(self) -> str:
        """The request method ("" for a response)."""
        word = self.first_line.split(" ", 1)[0]
        return "" if word.startswith("SIP/") else word

    @property
    def request_user(self) -> str:
        """The user part of a request's Request-URI (the dialled number for an INVITE)."""
        match = re.match(r"\S+ sips?:([^@;> ]+)@", self.first_line)
        return match.group(1) if match else ""

    @property
    def status(self) -> int:
        """The status code of a response (0 for a request)."""
        parts = self.first_line.split(" ", 2)
        return int(parts[1]) if parts[0].startswith("SIP/") else 0


_MSG_SEPARATOR = re.compile(r"^-{20,} .*$", re.MULTILINE)


def parse_message_log(text: str) -> list[SipMessage]:
    """The messages of a SIPp -trace_msg log, in order."""
    messages = []
    for block in _MSG_SEPARATOR.split(text):
        lines = block.strip("\n").splitlines()
        if len(lines) < 2 or "message" not in lines[0]:
            continue
        received = "received" in lines[0]
        body = lines[1:]
        while body and not body[0].strip():
            body.pop(0)
        if not body:
            continue
        headers: dict[str, str] = {}
        for line in body[1:]:
            if not line.strip():
                break
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        messages.append(SipMessage(received, body[0].strip(), headers))
    return messages


@dataclass
class SippProcess:
    """A SIPp process started in the background, with its logs in `workdir`."""

    name: str
    workdir: Path
    pid: int = 0
    args: list[str] = field(default_factory=list)

    @property
    def message_log(self) -> Path:
        """The -trace_msg log."""
        return self.workdir / f"{self.name}_messages.log"

    @property
    def stat_log(self) -> Path:
        """The -trace_stat CSV."""
        return self.workdir / f"{self.name}_stats.csv"

    @property
    def error_log(self) -> Path:
        """The -trace_err log."""
        return self.workdir / f"{self.name}_errors.log"

    def start(self, args: Sequence[str]) -> SippProcess:
        """Run `sipp ARGS -bg` with tracing; SIPp's -bg exits 1, so read PID=[n]."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.args = ["sipp", *args, "-trace_msg", "-message_file", str(self.message_log),
                     "-trace_stat", "-stf", str(self.stat_log), "-fd", "1",
                     "-trace_err", "-error_file", str(self.error_log), "-nostdin", "-bg"]
        proc = subprocess.run(self.args, capture_output=True, text=True, cwd=self.workdir,
                              timeout=30, check=False)
        match = re.search(r"PID=\[(\d+)\]", proc.stdout + proc.stderr)
        if match is None:
            raise RigError(f"sipp did not start: {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
        self.pid = int(match.group(1))
        return self

    def alive(self) -> bool:
        """True while the SIPp process runs."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop SIPp (SIGUSR1 lets it write its logs, then SIGKILL if it lingers)."""
        if not self.pid or not self.alive():
            return
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)

    def messages(self) -> list[SipMessage]:
        """Every SIP message SIPp sent or received so far."""
        if not self.message_log.exists():
            return []
        return parse_message_log(self.message_log.read_text(errors="replace"))

    def received_invites(self) -> list[SipMessage]:
        """The INVITEs SIPp received (one per call Asterisk placed to it)."""
        return [m for m in self.messages() if m.received and m.method == "INVITE"]

    def stats(self) -> dict[str, str]:
        """The last row of the -trace_stat CSV as a dict."""
        if not self.stat_log.exists():
            return {}
        rows = list(csv.reader(self.stat_log.read_text().splitlines(), delimiter=";"))
        return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}


def _scenario(template: Path, out: Path, values: dict[str, str]) -> Path:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = re.findall(r"@[A-Z_]+@", text)
    if leftover:
        raise RigError(f"{template.name}: unfilled placeholders {sorted(set(leftover))}")
    out.write_text(text)
    return out


def start_customers(port: int, workdir: Path, media_port: int | None = None) -> SippProcess:
    """SIPp customers (UAS) on 127.0.0.1:`port`; behaviour by a digit of the dialled user
    (the last of a +E.164 number, else the first)."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = _scenario(SIPP_DIR / "customers.xml", workdir / "customers.xml",
                         {"MEDIA": str(MEDIA_DIR)})
    proc = SippProcess("customers", workdir)
    return proc.start(["-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
                       "-mi", "127.0.0.1", "-mp", str(media_port or free_udp_block())])


def _load_mkpcap():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("mkpcap", SIPP_DIR / "mkpcap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def agent_script_segments(dtmf: Sequence[tuple[float, str]], tail_s: float = 2.0,
                          speech: Path | None = MEDIA_DIR / "agent.ul") -> list[str]:
    """mkpcap segments: speech (if it ends before the first code), then each DTMF code
    at its time (s after answer), then `tail_s` of silence."""
    segments = []
    now_ms = 0
    schedule = sorted(dtmf)
    if speech is not None:
        speech_ms = speech.stat().st_size // 8          # 8 kHz, one byte a sample
        first_ms = int(schedule[0][0] * 1000) if schedule else speech_ms + 1000
        if first_ms > speech_ms + 200:
            segments.append(f"audio:{speech}")
            now_ms = speech_ms
    for at_s, code in schedule:
        at_ms = int(at_s * 1000)
        if at_ms > now_ms:
            segments.append(f"sil:{at_ms - now_ms}")
            now_ms = at_ms
        for digit in code:
            segments += [f"dtmf:{digit}:200", "sil:300"]
            now_ms += 520  # 200 ms event + 20 ms end packet + 300 ms gap
    segments.append(f"sil:{int(tail_s * 1000)}")
    return segments


def start_agent(agent_id: str, pin: str, asterisk_sip_port: int, workdir: Path, *,
                dtmf: Sequence[tuple[float, str]] = (), media_port: int | None = None,
                max_loops: int = 10, relogin: bool = False) -> SippProcess:
    """An agent phone that logs in as `agent_id`/`pin` and presses each DTMF code at its
    time (seconds after the login call is answered), keeping RTP flowing throughout.

    With `relogin` the phone dials again (every 2 s at most) whenever its call ends,
    e.g. because the application was not connected yet (`Stasis()` then fails)."""
    workdir.mkdir(parents=True, exist_ok=True)
    mkpcap = _load_mkpcap()
    pcap = workdir / f"agent-{agent_id}.pcap"
    length_s = mkpcap.build_pcap(agent_script_segments(dtmf), str(pcap))
    idle = workdir / "agent-idle.pcap"
    idle_s = mkpcap.build_pcap([f"audio:{MEDIA_DIR / 'agent.ul'}", "sil:2000"] * 5, str(idle))
    scenario = _scenario(SIPP_DIR / "agent.xml", workdir / f"agent-{agent_id}.xml", {
        "PCAP": str(pcap), "PCAP_MS": str(int(length_s * 1000)), "IDLE": str(idle),
        "IDLE_MS": str(int(idle_s * 1000)), "MAX_LOOPS": str(max_loops)})
    csv_file = workdir / f"agent-{agent_id}.csv"
    csv_file.write_text(f"SEQUENTIAL\n{agent_id};{pin};\n")
    proc = SippProcess(f"agent-{agent_id}", workdir)
    return proc.start([f"127.0.0.1:{asterisk_sip_port}", "-sf", str(scenario),
                       "-inf", str(csv_file), "-i", "127.0.0.1",
                       "-p", str(free_port(socket.SOCK_DGRAM)),
                       "-mi", "127.0.0.1", "-mp", str(media_port or free_udp_block()),
                       "-l", "1", *(["-r", "1", "-rp", "2000"] if relogin else ["-m", "1"])])


# -- demo peers (make demo) -------------------------------------------------------------

_PEERS_FILE = "demo-peers.json"


def _peers_main(args: argparse.Namespace) -> int:
    instance = AsteriskInstance.existing(args.instance)
    workdir = Path(args.workdir)
    state = workdir / _PEERS_FILE
    if args.verb == "down":
        if state.exists():
            for entry in json.loads(state.read_text()):
                SippProcess(entry["name"], workdir, entry["pid"]).stop()
            state.unlink()
        print("rig: demo peers stopped")
        return 0
    ensure_media()
    procs = [start_customers(instance.trunk_port, workdir)]
    for i in range(args.agents):
        agent_id = str(8001 + i)
        procs.append(start_agent(agent_id, "1234", instance.sip_port, workdir,
                                 max_loops=args.agent_loops, relogin=True))
    state.write_text(json.dumps([{"name": p.name, "pid": p.pid} for p in procs]))
    print(f"rig: SIPp customers on 127.0.0.1:{instance.trunk_port}, "
          f"{args.agents} agent(s) logging in to 127.0.0.1:{instance.sip_port}; logs in {workdir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python tests/rig.py peers up|down`: the demo's SIPp peers."""
    parser = argparse.ArgumentParser(prog="tests/rig.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    peers = sub.add_parser("peers", help="start or stop SIPp customers and agents")
    peers.add_argument("verb", choices=["up", "down"])
    peers.add_argument("--instance", default=os.environ.get("DIALER_AST_NAME", "dev"))
    peers.add_argument("--agents", type=int, default=1)
    peers.add_argument("--agent-loops", type=int, default=10,
                       help="how many ~40 s idle loops an agent stays logged in")
    peers.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "dialer-demo"))
    args = parser.parse_args(argv)
    try:
        return _peers_main(args)
    except RigError as exc:
        print(f"rig: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
