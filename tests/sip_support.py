"""Starting a real `ceoline serve` for SIP tests, and helpers to talk to it.

The server runs as a subprocess on loopback, on a free port, with its own data directory.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ceoline.store import Store

from .conftest import ROOT, make_config

CEOLINE = [sys.executable, "-m", "ceoline"]


def free_port(avoid: range = range(0)) -> int:
    """A port free for both UDP and TCP on 127.0.0.1, outside ``avoid``."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        if port in avoid:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    port: int
    config_path: Path
    data_dir: Path
    log_path: Path

    @property
    def uri(self) -> str:
        return f"sip:hotline@127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self) -> dict[str, int]:
        """Threads and resident memory (kB) of the server process, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Threads", "VmRSS"):
                fields[key] = int(value.split()[0])
        return fields

    def calls(self) -> list[dict]:
        store = Store.open(self.data_dir)
        try:
            return [store.get_call(c["id"]) for c in store.list_calls(1000)]
        finally:
            store.close()

    def wait_for_calls(self, count: int, timeout: float = 30, ended: bool = True) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls()
            done = [c for c in calls if c["ended_at"]] if ended else calls
            if len(done) >= count or time.monotonic() > deadline:
                return calls
            time.sleep(0.2)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def start_server(
    tmp_path: Path, ready_timeout: float = 60, wrap: tuple[str, ...] = (), **sections: dict
) -> ServerProcess:
    """``ceoline serve`` on a free port; returns once it prints how to call it. ``wrap`` runs
    it inside something, e.g. ``("nsenter", "-t", PID, "-n", "--")`` for another namespace."""
    port = free_port()
    sip = {"port": port, "rtp_port": random.randrange(30000, 60000, 1000)}
    sip.update(sections.pop("sip", {}))
    call = {"silence_prompt_s": 0, "silence_timeout_s": 60}
    call.update(sections.pop("call", {}))
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_path = make_config(tmp_path, sip=sip, call=call, **sections)
    log_path = tmp_path / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        [*wrap, *CEOLINE, "--log-level", "info", "serve", "--config", str(config_path)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )
    server = ServerProcess(proc, sip["port"], config_path, tmp_path / "data", log_path)
    deadline = time.monotonic() + ready_timeout
    # The server's own banner; a cluster's workers print theirs prefixed with their name.
    while not re.search(r"^  call it:", server.log(), re.MULTILINE):
        if proc.poll() is not None:
            raise RuntimeError(f"ceoline serve exited {proc.returncode}:\n{server.log()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"ceoline serve did not start:\n{server.log()}")
        time.sleep(0.1)
    return server


def dial(server: ServerProcess, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `ceoline dial` against the server (a separate process: pjsua is one per process)."""
    return subprocess.run(
        [*CEOLINE, "dial", server.uri, "--json", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


# -- SIPp and raw SIP over sockets -------------------------------------------------------------

SIPP_DIR = ROOT / "tests" / "sipp"
LOOPBACK = "127.0.0.1"


def require_sipp() -> str:
    """The sipp binary. A missing one fails the test: an interop suite that skips proves nothing."""
    import shutil

    import pytest

    path = shutil.which("sipp")
    if path is None:
        pytest.fail(
            "sipp is not installed, so the SIP interop tests cannot run; `make install` installs "
            "it (Debian/Ubuntu package sip-tester)",
            pytrace=False,
        )
    return path


def free_port_block(count: int) -> int:
    """An even port P with P..P+count-1 free for UDP on 127.0.0.1 (SIPp's RTP/RTCP pairs)."""
    for _ in range(200):
        base = random.randrange(20000, 30000 - count, 2)
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((LOOPBACK, port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


@dataclass
class SippRun:
    """One sipp process: its exit code, how long it ran, and the trace files it left."""

    name: str
    returncode: int
    elapsed_s: float
    workdir: Path
    call_id_prefix: str
    stdout: str

    def _read(self, suffix: str) -> str:
        path = self.workdir / f"{self.name}-{suffix}"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def messages(self) -> str:
        return self._read("messages.log")

    @property
    def errors(self) -> str:
        return self._read("errors.log")

    @property
    def logs(self) -> str:
        return self._read("logs.log")

    def rtt_ms(self) -> list[float]:
        """Response times (ms) that the scenario marked with rtd, from -trace_rtt."""
        rows = []
        for path in self.workdir.glob("*_rtt.csv"):
            for line in path.read_text().splitlines()[1:]:
                fields = line.split(";")
                if len(fields) >= 2:
                    rows.append(float(fields[1]))
        return rows

    def report(self) -> str:
        tail = "\n".join(self.stdout.strip().splitlines()[-12:])
        return (
            f"sipp {self.name} exited {self.returncode} after {self.elapsed_s:.1f} s\n"
            f"--- errors ---\n{self.errors[-4000:]}\n--- messages ---\n{self.messages[-6000:]}\n"
            f"--- screen ---\n{tail}"
        )


def sipp_command(
    scenario: str,
    workdir: Path,
    name: str,
    target: str | None = None,
    *,
    calls: int = 1,
    limit: int | None = None,
    timeout_s: float = 60,
    variables: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
    sip_port: int | None = None,
    local: str = LOOPBACK,
    wrap: tuple[str, ...] = (),
    service: str = "hotline",
) -> tuple[list[str], str]:
    """The sipp command line for one run, and the Call-ID prefix its calls will carry.

    Everything binds to 127.0.0.1, the control socket included (SIPp opens one on 8888 on
    every interface unless told otherwise), and each run gets its own ports so runs can
    overlap.
    """
    media_port = free_port_block(4)
    # The block's sockets are closed again by now, so the other ports must be kept out of it.
    media = range(media_port, media_port + 4)
    sip_port = sip_port or free_port(avoid=media)
    control_port = free_port(avoid=media)
    prefix = f"{name}-{random.randrange(16**8):08x}"
    cmd = [
        *wrap,
        require_sipp(),
        *([target] if target else []),
        "-sf",
        str(SIPP_DIR / f"{scenario}.xml"),
        "-s",
        service,
        "-m",
        str(calls),
        "-i",
        local,
        "-mi",
        local,
        "-bind_local",
        "-p",
        str(sip_port),
        "-mp",
        str(media_port),
        "-ci",
        LOOPBACK,
        "-cp",
        str(control_port),
        "-cid_str",
        f"{prefix}-%u-%p@%s",
        "-nostdin",
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
        "-trace_msg",
        "-message_file",
        str(workdir / f"{name}-messages.log"),
        "-trace_err",
        "-error_file",
        str(workdir / f"{name}-errors.log"),
        "-trace_logs",
        "-log_file",
        str(workdir / f"{name}-logs.log"),
    ]
    if limit is not None:
        cmd += ["-l", str(limit)]
    for key, value in (variables or {}).items():
        cmd += ["-set", key, value]
    cmd += list(extra)
    return cmd, prefix


def start_sipp(scenario: str, workdir: Path, name: str, target: str | None = None, **kwargs):
    """sipp in the background (for calls that must overlap); finish it with :func:`finish_sipp`."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd, prefix = sipp_command(scenario, workdir, name, target, **kwargs)
    out = (workdir / f"{name}-screen.log").open("w")
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
    )
    return proc, prefix, time.monotonic(), kwargs.get("timeout_s", 60)


def finish_sipp(started, workdir: Path, name: str) -> SippRun:
    proc, prefix, t0, timeout_s = started
    try:
        proc.wait(timeout=timeout_s + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    elapsed = time.monotonic() - t0
    stdout = (workdir / f"{name}-screen.log").read_text(errors="replace")
    return SippRun(name, proc.returncode, elapsed, workdir, prefix, stdout)


def run_sipp(scenario: str, workdir: Path, name: str, target: str | None = None, **kwargs):
    """Run one sipp scenario to the end (never -bg) and return what happened."""
    return finish_sipp(start_sipp(scenario, workdir, name, target, **kwargs), workdir, name)


def calls_with_prefix(
    server: ServerProcess, prefix: str, count: int, timeout: float = 30, ended: bool = True
) -> list[dict]:
    """The stored calls whose SIP Call-ID starts with ``prefix`` (one sipp run's calls)."""
    deadline = time.monotonic() + timeout
    while True:
        calls = [c for c in server.calls() if (c.get("sip_call_id") or "").startswith(prefix)]
        done = [c for c in calls if c["ended_at"]] if ended else calls
        if len(done) >= count or time.monotonic() > deadline:
            return done
        time.sleep(0.2)


def sip_request(
    method: str,
    server: ServerProcess,
    local_port: int,
    *,
    transport: str = "UDP",
    body: bytes = b"",
    content_type: str = "application/sdp",
    call_id: str | None = None,
    branch: str | None = None,
    to_tag: str | None = None,
    cseq: int = 1,
) -> bytes:
    """A well-formed request from a caller on 127.0.0.1:local_port, as bytes."""
    call_id = call_id or f"raw-{random.randrange(16**12):012x}@{LOOPBACK}"
    branch = branch or f"z9hG4bK-raw-{random.randrange(16**12):012x}"
    to = f"<sip:hotline@{server.target}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {server.uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {LOOPBACK}:{local_port};rport;branch={branch}",
        f"From: <sip:raw@{LOOPBACK}:{local_port}>;tag=raw{local_port}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:raw@{LOOPBACK}:{local_port}>",
        "Max-Forwards: 70",
    ]
    if body:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_line(message: bytes) -> str:
    return message.split(b"\r\n", 1)[0].decode("ascii", "replace")


def header(message: bytes, name: str) -> str | None:
    for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.decode("ascii", "replace").partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


class UdpPeer:
    """A UDP socket on 127.0.0.1 that sends raw datagrams to the server and reads replies."""

    def __init__(self, server: ServerProcess, local: str = LOOPBACK):
        self.server = server
        self.local = local
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local, 0))
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, (LOOPBACK, self.server.port))

    def replies(self, wait_s: float, until_final: bool = False) -> list[bytes]:
        """Everything that arrives within ``wait_s`` (or up to the first final response)."""
        got: list[bytes] = []
        deadline = time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                break
            got.append(data)
            if until_final and data.startswith(b"SIP/2.0 ") and data[8:9] != b"1":
                break
        return got

    def ack_failure(self, invite: bytes, final: bytes) -> None:
        """ACK a non-2xx final response to ``invite`` (same transaction, so same branch)."""
        head = invite.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        keep = [h for h in head[1:] if h.split(b":")[0].lower() in (b"via", b"from", b"call-id")]
        to = header(final, "To") or ""
        cseq = (header(final, "CSeq") or "1 INVITE").split()[0]
        lines = [b"ACK " + head[0].split(b" ")[1] + b" SIP/2.0", *keep]
        lines += [f"To: {to}".encode(), f"CSeq: {cseq} ACK".encode(), b"Max-Forwards: 70"]
        self.send(b"\r\n".join(lines) + b"\r\nContent-Length: 0\r\n\r\n")

    def in_dialog(self, method: str, invite: bytes, response: bytes, cseq: int) -> bytes:
        """A request in the dialog that ``response`` to ``invite`` set up (ACK of a 2xx, BYE)."""
        contact = header(response, "Contact") or f"<{self.server.uri}>"
        target = contact.split("<", 1)[1].split(">", 1)[0] if "<" in contact else contact
        branch = f"z9hG4bK-raw-{random.randrange(16**12):012x}"
        lines = [
            f"{method} {target} SIP/2.0",
            f"Via: SIP/2.0/UDP {LOOPBACK}:{self.port};rport;branch={branch}",
            f"From: {header(invite, 'From')}",
            f"To: {header(response, 'To')}",
            f"Call-ID: {header(invite, 'Call-ID')}",
            f"CSeq: {cseq} {method}",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def respond(self, request: bytes, status: str) -> None:
        """Answer a request the server sent us, e.g. ``respond(bye, "200 OK")``."""
        keep = [
            line
            for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
            if line.split(b":")[0].strip().lower() in (b"via", b"from", b"to", b"call-id", b"cseq")
        ]
        lines = [f"SIP/2.0 {status}".encode(), *keep, b"Content-Length: 0"]
        self.send(b"\r\n".join(lines) + b"\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


def question_ulaw_wav(path: Path) -> Path:
    """The bundled spoken question as 8 kHz mono mu-law WAV, the format SIPp streams as PCMU."""
    import soundfile

    from ceoline.voice.audio import SAMPLE_RATE, read_wav, resample

    from .conftest import DATA

    pcm16k = read_wav(DATA / "question-mission.wav")
    pcm8k = resample(pcm16k, SAMPLE_RATE, 8000) / 32768.0
    soundfile.write(str(path), pcm8k, 8000, format="WAV", subtype="ULAW")
    return path
