"""Prometheus metrics for ``ceoline serve``: what operations watch on a live hotline.

Counts come from the store, which every call writes through: call ends by reason, stage
timings of caller turns, barge-ins, escalations by outcome and guardrail hits by category
are observed as they are committed (:class:`StoreMetrics` is the store's observer), so the
metrics and the stored calls cannot disagree. Live calls, SIP refusals and the insights
queue are read when scraped. No label carries a caller, a call id or any word said: label
values are closed sets (reasons, stages, outcomes, categories).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ceoline.store import Store

log = logging.getLogger(__name__)

# The stored per-turn timings (ms) exported as histograms, and their metric labels.
STAGES = ("endpoint", "stt", "llm_first_token", "tts_first_audio", "response")
# From a fast endpoint to a reply that is far too slow on a phone line.
STAGE_BUCKETS_S = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)


class StoreMetrics:
    """The store's observer: counters and histograms moved by what calls commit."""

    def __init__(self, registry: CollectorRegistry):
        self.calls = Counter(
            "ceoline_calls",
            "Calls ended, by line (dialed number's [[lines]] name) and end reason.",
            ["line", "end_reason"],
            registry=registry,
        )
        self.stage = Histogram(
            "ceoline_turn_stage_seconds",
            "Per caller turn: end of speech to end of turn (endpoint), transcript (stt), the "
            "model's first token, the first synthesized audio, and the response (end of "
            "caller speech to the first bot sample).",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=registry,
        )
        self.barge_ins = Counter(
            "ceoline_barge_ins",
            "Caller speech over the bot: stopped the reply, or paused it and let it resume.",
            ["outcome"],
            registry=registry,
        )
        self.escalations = Counter(
            "ceoline_escalations",
            "Hand-offs to a person, by outcome (each outcome a hand-off reached).",
            ["outcome"],
            registry=registry,
        )
        self.guardrails = Counter(
            "ceoline_guardrail_hits",
            "Guardrail decisions, by side (caller request or bot sentence) and category.",
            ["side", "category"],
            registry=registry,
        )
        for stage in STAGES:
            self.stage.labels(stage=stage)
        self._lock = threading.Lock()
        self._caller_turns: dict[tuple[str, int], set[str]] = {}

    # -- the store's hooks (called after each commit) -----------------------------------------

    def turn_added(self, call_id: str, seq: int, role: str, timings: dict) -> None:
        if role == "caller":
            with self._lock:
                self._caller_turns[(call_id, seq)] = set()
            self.turn_timings(call_id, seq, timings)

    def turn_timings(self, call_id: str, seq: int, timings: dict) -> None:
        # A caller turn's timings are stored several times as its reply goes out; each stage
        # is observed once, when it first appears.
        with self._lock:
            seen = self._caller_turns.get((call_id, seq))
            if seen is None:
                return
            new = [s for s in STAGES if isinstance(timings.get(s), int | float) and s not in seen]
            seen.update(new)
        for stage in new:
            self.stage.labels(stage=stage).observe(max(0.0, timings[stage] / 1000.0))

    def event(self, kind: str, detail: str) -> None:
        if kind == "barge_in":
            try:
                committed = bool(json.loads(detail).get("committed"))
            except (ValueError, AttributeError):
                committed = True
            self.barge_ins.labels(outcome="stopped" if committed else "resumed").inc()
        elif kind.startswith("guardrail_"):
            self.guardrails.labels(side=kind.removeprefix("guardrail_"), category=detail).inc()

    def escalation(self, outcome: str) -> None:
        self.escalations.labels(outcome=outcome).inc()

    def call_ended(self, call_id: str, end_reason: str, line: str) -> None:
        self.calls.labels(line=line, end_reason=end_reason).inc()
        with self._lock:
            for key in [k for k in self._caller_turns if k[0] == call_id]:
                del self._caller_turns[key]


class LiveCollector:
    """Read at each scrape: live calls, SIP refusals, the insights queue."""

    def __init__(
        self,
        store: Store,
        live_calls: Callable[[], int],
        refusals: Callable[[], dict[str, int]],
        inference_up: Callable[[], bool] | None = None,
    ):
        self.store = store
        self.live_calls = live_calls
        self.refusals = refusals
        self.inference_up = inference_up

    def collect(self):
        yield GaugeMetricFamily("ceoline_active_calls", "Calls in progress.", self.live_calls())
        refused = CounterMetricFamily(
            "ceoline_sip_refused",
            "SIP refused: INVITEs answered 503 (at capacity or stopping) or 404 (a number no "
            "line answers), and requests from "
            "sources outside [sip] allow (dropped or 403).",
            labels=["status"],
        )
        for status, count in sorted(self.refusals().items()):
            refused.add_metric([status], count)
        yield refused
        depth, oldest = insights_queue(self.store)
        yield GaugeMetricFamily(
            "ceoline_insights_queue_depth", "Insights jobs pending or running.", depth
        )
        if self.inference_up is not None:
            yield GaugeMetricFamily(
                "ceoline_inference_up",
                "1 while this worker's last request to the shared inference service was "
                "answered, 0 while it is unreachable (calls go on with fixed lines).",
                1.0 if self.inference_up() else 0.0,
            )
        yield GaugeMetricFamily(
            "ceoline_insights_oldest_job_age_seconds",
            "Age of the oldest insights job not done (0 when the queue is empty); product "
            "teams are promised every call within 24 hours.",
            oldest,
        )


def insights_queue(store: Store) -> tuple[int, float]:
    with store.reading() as db:
        depth, oldest = db.execute(
            "SELECT COUNT(*), MIN(created_at) FROM insight_jobs WHERE status != 'done'"
        ).fetchone()
    if not oldest:
        return depth, 0.0
    age = datetime.now(UTC) - datetime.fromisoformat(oldest)
    return depth, max(0.0, age.total_seconds())


class Metrics:
    """One registry for the process: the store's observer plus the live collector."""

    def __init__(self, store: Store):
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.observer = StoreMetrics(self.registry)
        self.store = store
        self._server = None
        store.observer = self.observer

    def watch(
        self,
        live_calls: Callable[[], int],
        refusals: Callable[[], dict[str, int]],
        inference_up: Callable[[], bool] | None = None,
    ):
        self.registry.register(LiveCollector(self.store, live_calls, refusals, inference_up))

    def serve(self, host: str, port: int) -> bool:
        """Serve /metrics in a thread; a taken port costs the metrics, never the calls."""
        try:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.error("event=metrics.failed host=%s port=%d error=%r", host, port, str(exc))
            return False
        return True

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
