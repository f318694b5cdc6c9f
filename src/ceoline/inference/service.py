"""llama.cpp's own ``llama-server`` as a supervised child of ``ceoline serve``.

Started with the model calls load (the merged persona model), ``[inference] parallel`` slots,
each slot's share of the context, and loopback only. A watcher thread restarts a server that
dies after 1, 2, 4 … s (at most ``restart_backoff_max_s``; the count starts again once it has
run a minute). Workers never wait for it: while it is down their calls go on with fixed lines
and the notes' answers (see ``client``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ceoline.config import Config
from ceoline.errors import CeolineError
from ceoline.locator import ModelFiles

log = logging.getLogger("ceoline.inference")

HEALTHY_S = 60
POLL_S = 0.2
HOST = "127.0.0.1"


class ServiceError(CeolineError):
    """The inference service cannot be started."""


def log_event(event: str, level: int = logging.INFO, **fields: object) -> None:
    log.log(level, "event=%s %s", event, " ".join(f"{k}={v}" for k, v in fields.items()))


def server_binary(config: Config) -> Path:
    """The llama-server to run: a path as given, else a name beside this Python (where
    `make install` puts it), else on PATH."""
    name = config.inference.server
    given = Path(name).expanduser()
    if given.is_absolute() or "/" in name:
        candidates = [config.path(name)]
    else:
        candidates = [Path(sys.prefix) / "bin" / name]
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ServiceError(
        f"[inference] server {name!r}: no such program (looked in {candidates[0].parent}); "
        "build it with `make install`, or set [inference] server to a llama-server binary"
    )


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the thread that started it dies (the
    supervisor killed outright), so no orphan holds the port or the model's memory."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def base_url(config: Config) -> str:
    return f"http://{HOST}:{config.inference.port}"


def server_command(
    config: Config, binary: Path, model: ModelFiles, adapter: ModelFiles | None
) -> list[str]:
    inference, llm = config.inference, config.llm
    command = [
        str(binary),
        "--model", str(model.path),
        "--host", HOST,
        "--port", str(inference.port),
        "--parallel", str(inference.parallel),
        # Each slot gets the context one local call has.
        "--ctx-size", str(llm.context_tokens * inference.parallel),
        "--threads", str(config.runtime.stage_threads),
        # As llama-cpp-python does locally: prompts are evaluated on every core.
        "--threads-batch", str(config.runtime.all_threads),
        "--seed", str(llm.seed),
        "--metrics",
        "--no-webui",
    ]  # fmt: skip
    if config.runtime.device == "cuda":
        command += ["--n-gpu-layers", str(llm.gpu_layers if llm.gpu_layers >= 0 else 999)]
    else:
        command += ["--n-gpu-layers", "0"]
    if adapter is not None:
        command += ["--lora-scaled", f"{adapter.path}:{llm.adapter_scale}"]
    return command


def health(config: Config, timeout: float = 1.0) -> bool:
    """The server answers /health with "ok" (it has loaded its model)."""
    try:
        with urllib.request.urlopen(f"{base_url(config)}/health", timeout=timeout) as response:
            return json.loads(response.read()).get("status") == "ok"
    except (OSError, ValueError, urllib.error.URLError):
        return False


@dataclass(frozen=True)
class ServiceState:
    up: bool
    pid: int | None
    restarts: int
    detail: str


class InferenceService:
    """Starts llama-server, waits for its health, restarts it when it dies, stops it."""

    def __init__(self, config: Config, model: ModelFiles, adapter: ModelFiles | None = None):
        self.config = config
        self.command = server_command(config, server_binary(config), model, adapter)
        self.log_path = config.data_dir / "inference.log"
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._backoff = 0
        self._started_at = 0.0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the server and return once it is healthy (ServiceError if it never is)."""
        if health(self.config, timeout=0.3):
            raise ServiceError(
                f"[inference] port {self.config.inference.port} already answers on {HOST}: "
                "another service is running there; stop it or choose another port"
            )
        self._spawn()
        deadline = time.monotonic() + self.config.inference.start_timeout_s
        while not health(self.config, timeout=0.5):
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceError(
                    f"llama-server exited {self.proc.returncode} at start; see {self.log_path}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"llama-server did not answer /health in "
                    f"{self.config.inference.start_timeout_s} s; see {self.log_path}"
                )
            time.sleep(0.1)
        log_event(
            "inference.up", pid=self.proc.pid if self.proc else None, url=base_url(self.config)
        )
        self._watcher = threading.Thread(target=self._watch, name="inference-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to ceoline is handled by ceoline, not it
                preexec_fn=_die_with_parent,
            )
        self._started_at = time.monotonic()

    def _watch(self) -> None:
        restart_at: float | None = None
        while not self._stop.wait(POLL_S):
            proc = self.proc
            if proc is None:
                continue
            code = proc.poll()
            now = time.monotonic()
            if code is None:
                if now - self._started_at > HEALTHY_S:
                    self._backoff = 0
                continue
            if restart_at is None:
                delay = min(2**self._backoff, self.config.inference.restart_backoff_max_s)
                restart_at = now + delay
                log_event("inference.died", logging.ERROR, exit=code, restart_in_s=delay)
            elif now >= restart_at:
                restart_at = None
                self._backoff += 1
                self.restarts += 1
                self._spawn()
                log_event("inference.restarted", pid=self.proc.pid, restarts=self.restarts)

    def state(self) -> ServiceState:
        proc = self.proc
        alive = proc is not None and proc.poll() is None
        up = alive and health(self.config, timeout=0.3)
        detail = f"{base_url(self.config)} " + ("up" if up else "starting" if alive else "down")
        return ServiceState(up, proc.pid if alive and proc else None, self.restarts, detail)

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=2)
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_event("inference.stopped")
