"""Starting a real `ceoline serve` for SIP tests, and helpers to talk to it.

The server runs as a subprocess on loopback, on a free port, with its own data directory.
"""

from __future__ import annotations

import os
import random
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


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        port = random.randint(20000, 30000)
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


def start_server(tmp_path: Path, ready_timeout: float = 60, **sections: dict) -> ServerProcess:
    """``ceoline serve`` on a free port; returns once it prints how to call it."""
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
        [*CEOLINE, "--log-level", "info", "serve", "--config", str(config_path)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )
    server = ServerProcess(proc, sip["port"], config_path, tmp_path / "data", log_path)
    deadline = time.monotonic() + ready_timeout
    while "call it:" not in server.log():
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
