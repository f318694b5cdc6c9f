"""``ceoline serve`` with ``[cluster] workers > 1``: Kamailio in front, N workers behind.

The supervisor loads no model and touches no call. It closes calls a crash left open, starts
the shared inference service when ``[inference] mode = "shared"`` (it restarts itself; see
``ceoline.inference.service``), starts Kamailio, starts each worker as ``ceoline serve
--worker I`` and forwards its log lines,
restarts a worker that dies (after 1, 2, 4 … s, at most ``restart_backoff_max_s``; the count
starts again once a worker has run a minute), and serves the dashboard and the daily purge
for the box. On SIGTERM it drains: the workers stop taking calls (Kamailio answers 503 once
none takes them) and say goodbye on live ones; once they have exited Kamailio is stopped.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ceoline.cluster.kamailio import (
    KamailioError,
    KamailioProcess,
    cluster_dir,
    dispatcher_entries,
)
from ceoline.cluster.workers import Worker, workers
from ceoline.config import Config
from ceoline.retention import DailyPurge
from ceoline.store import Store

log = logging.getLogger("ceoline.cluster")

READY_MARK = "call it:"
HEALTHY_S = 60
POLL_S = 0.2
# After the workers' own grace (goodbyes, BYE transactions), how long before they are killed.
STOP_MARGIN_S = 10


def log_event(event: str, level: int = logging.INFO, **fields: object) -> None:
    log.log(level, "event=%s %s", event, " ".join(f"{k}={v}" for k, v in fields.items()))


class StopRequested(Exception):
    """SIGTERM or SIGINT came while the workers were still starting."""


@dataclass
class WorkerProcess:
    worker: Worker
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    restarts: int = 0
    restart_at: float | None = None


class Supervisor:
    def __init__(self, config: Config, config_path: Path, log_level: str):
        self.config = config
        self.config_path = config_path
        self.log_level = log_level
        self.kamailio = KamailioProcess(config)
        self.workers = [WorkerProcess(w) for w in workers(config)]
        self._stop_requested = 0
        self._dashboard = None
        self._retention: DailyPurge | None = None
        self.store: Store | None = None
        self.inference = None  # the shared inference service, with [inference] mode = "shared"

    def request_stop(self, *_: object) -> None:
        self._stop_requested += 1

    # -- start -------------------------------------------------------------------------------

    def start(self, ready_timeout: float = 300) -> None:
        self.store = Store.open(
            self.config.data_dir, worker="supervisor", box=self.config.cluster.box
        )
        crashed = self.store.close_crashed_calls()
        if crashed:
            log_event("store.recovered", logging.WARNING, crashed_calls=len(crashed))
        if self.config.inference.mode == "shared":
            # One reply model for every worker: up before them, so their first calls use it.
            from ceoline.engines import start_inference

            self.inference = start_inference(self.config)
        for wp in self.workers:
            self._spawn(wp)
        deadline = time.monotonic() + ready_timeout
        for wp in self.workers:
            while not wp.ready.wait(0.2):
                if wp.proc is not None and wp.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{wp.worker.name} exited {wp.proc.returncode} at start")
                if self._stop_requested:
                    self.stop()
                    raise StopRequested
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{wp.worker.name} did not start in {ready_timeout:.0f} s")
        # Kamailio starts once the workers listen, and the hotline is announced once it has
        # seen each of them answer: a call before that would find no worker to take it.
        self.kamailio.start(cluster_dir(self.config) / "kamailio.log")
        log_event("proxy.started", pid=self.kamailio.proc.pid if self.kamailio.proc else None)
        self._wait_workers_up(
            deadline=time.monotonic() + 3 * self.config.cluster.probe_interval_s + 10
        )
        if self.config.dashboard.enabled:
            self._start_dashboard()
        if self.config.retention.daily:
            self._retention = DailyPurge(
                self.store, self.config.retention.days, busy=self._busy, log_event=log_event
            )
            self._retention.start()

    def _wait_workers_up(self, deadline: float) -> None:
        states: list[str] = []
        while time.monotonic() < deadline:
            try:
                states = [e.state for e in dispatcher_entries(self.config)]
            except KamailioError:
                states = []
            if len(states) == len(self.workers) and set(states) == {"up"}:
                return
            time.sleep(0.2)
        log_event("proxy.workers_not_up", logging.WARNING, states=",".join(states) or "none")

    def _busy(self) -> bool:
        assert self.store is not None
        with self.store.reading() as db:
            return db.execute("SELECT COUNT(*) FROM calls WHERE ended_at IS NULL").fetchone()[0] > 0

    def _spawn(self, wp: WorkerProcess) -> None:
        wp.ready.clear()
        wp.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ceoline",
                "--log-level",
                self.log_level,
                "serve",
                "--config",
                str(self.config_path),
                "--worker",
                str(wp.worker.index),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        wp.started_at = time.monotonic()
        wp.restart_at = None
        threading.Thread(
            target=self._forward, args=(wp, wp.proc), name=f"log-{wp.worker.name}", daemon=True
        ).start()
        log_event("worker.started", worker=wp.worker.name, pid=wp.proc.pid, uri=wp.worker.uri)

    def _forward(self, wp: WorkerProcess, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if READY_MARK in line:
                wp.ready.set()
            sys.stdout.write(f"[{wp.worker.name}] {line}")
            sys.stdout.flush()

    def _start_dashboard(self) -> None:
        from ceoline.web import serve_in_thread

        dash = self.config.dashboard
        self._dashboard = serve_in_thread(self.config, self.store)
        log_event("dashboard.listening", url=f"http://{dash.host}:{dash.port}/")

    # -- supervising -------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def serve_forever(self) -> None:
        try:
            while not self._stop_requested:
                self._watch()
                time.sleep(POLL_S)
        finally:
            self.stop()

    def _watch(self) -> None:
        now = time.monotonic()
        if not self.kamailio.alive():
            code = self.kamailio.proc.returncode if self.kamailio.proc else None
            log_event("proxy.died", logging.ERROR, exit=code)
            self.kamailio.start(cluster_dir(self.config) / "kamailio.log")
        for wp in self.workers:
            if wp.proc is None:
                continue
            code = wp.proc.poll()
            if code is None:
                if now - wp.started_at > HEALTHY_S:
                    wp.restarts = 0
                continue
            if wp.restart_at is None:
                delay = min(2**wp.restarts, self.config.cluster.restart_backoff_max_s)
                wp.restart_at = now + delay
                log_event(
                    "worker.died",
                    logging.ERROR,
                    worker=wp.worker.name,
                    exit=code,
                    restart_in_s=delay,
                )
            elif now >= wp.restart_at:
                wp.restarts += 1
                self._spawn(wp)

    # -- stop --------------------------------------------------------------------------------

    def stop(self) -> None:
        live = [wp for wp in self.workers if wp.proc is not None and wp.proc.poll() is None]
        log_event("cluster.stopping", live_workers=len(live))
        for wp in live:
            wp.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.config.call.shutdown_grace_s + STOP_MARGIN_S
        for wp in live:
            try:
                wp.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log_event("worker.killed", logging.WARNING, worker=wp.worker.name)
                wp.proc.kill()
                wp.proc.wait()
        self.kamailio.stop()
        if self.inference is not None:
            self.inference.stop()
        if self._retention is not None:
            self._retention.stop()
        if self._dashboard is not None:
            self._dashboard.should_exit = True
        if self.store is not None:
            self.store.close()
            self.store = None
        log_event("cluster.stopped")
