"""The background worker that turns ended calls into insights.

Jobs live in the call store (``insight_jobs``), queued in the same transaction that ends a
call, so a restart loses none: jobs a killed worker left running are queued again at start.
The rules file every call's items at once, live calls or not (milliseconds); the model, in its
own context, drafts only while no call is live and stops as soon as one starts, so it never
slows a call and never holds a call's insights back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ceoline.config import Config
from ceoline.insights.faithful import read_notes
from ceoline.insights.summary import InsightsModel, Preempted, analyse, load_taxonomy
from ceoline.insights.themes import assign
from ceoline.store import Store

log = logging.getLogger(__name__)

POLL_S = 1.0
# How far back a new item looks for a theme to join.
THEME_DAYS = 90


def model_for(config: Config) -> InsightsModel | None:
    if not config.insights.use_model:
        return None
    from ceoline.engines import locate_all

    path = locate_all(config)["llm"].path
    gpu = config.llm.gpu_layers if config.runtime.device == "cuda" else 0
    return InsightsModel(path, config.insights.threads, gpu, config.llm.seed)


class InsightsWorker:
    def __init__(
        self,
        config: Config,
        store: Store,
        busy: Callable[[], bool] = lambda: False,
        model_factory: Callable[[Config], InsightsModel | None] = model_for,
        outbox: Callable[[dict], list[dict]] | None = None,
    ):
        self.config = config
        self.store = store
        self.busy = busy
        self.areas = load_taxonomy(config.path(config.insights.taxonomy))
        self.notes = read_notes(config.knowledge_dir)
        self._model_factory = model_factory
        # Webhook deliveries for a call's insights, stored in the same transaction.
        self.outbox = outbox
        self._model: InsightsModel | None = None
        self._model_loaded = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = 0

    @property
    def model(self) -> InsightsModel | None:
        if not self._model_loaded:
            self._model = self._model_factory(self.config)
            self._model_loaded = True
        return self._model

    def start(self) -> None:
        requeued = self.store.requeue_running_jobs()
        if requeued:
            log.info("insights: %d interrupted jobs queued again", requeued)
        self._thread = threading.Thread(target=self._run, name="ceoline-insights", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.run_one():
                self._stop.wait(POLL_S)

    def run_pending(self, limit: int | None = None) -> int:
        """Process queued jobs now (the CLI, tests); returns how many were done."""
        count = 0
        while (limit is None or count < limit) and self.run_one():
            count += 1
        return count

    def run_one(self) -> bool:
        call_id = self.store.claim_insight_job()
        if call_id is None:
            return False
        started = time.perf_counter()
        try:
            call = self.store.get_call(call_id)
            if call is None:
                raise LookupError(f"call {call_id} is gone")
            # The rules take milliseconds and never wait; the model drafts only while no
            # call is live, and stops at the first token a call needs the CPU.
            # A call in a language the model does not speak is filed by the rules, its quotes
            # kept as said: a small model's gloss would be a guess presented as the caller's.
            spoken = self.config.llm.speaks(call.get("language", "en"))
            model = None if self.busy() or not spoken else self.model
            try:
                insights = analyse(
                    call,
                    self.areas,
                    model,
                    self.config.insights.max_tokens,
                    self.busy,
                    self.notes,
                )
            except Preempted:
                log.info("insights for call %s: a call came in; the rules alone", call_id)
                insights = analyse(call, self.areas, None, notes=self.notes)
            data = insights.as_json()
            since = (datetime.now(UTC) - timedelta(days=THEME_DAYS)).isoformat(timespec="seconds")
            for item, theme_id in zip(
                data["items"], assign(self.store, insights.items, since), strict=True
            ):
                item["theme_id"] = theme_id
            self.store.save_insights(call_id, data, self.outbox)
        except Exception as exc:
            log.exception("insights for call %s failed; queued again", call_id)
            self.store.fail_insight_job(call_id, str(exc))
            return False
        self.done += 1
        after = _seconds_since(call.get("ended_at"))
        log.info(
            "event=insights.done call=%s items=%d summary=%s took_s=%.1f after_hangup_s=%s",
            call_id,
            len(insights.items),
            insights.summary_method,
            time.perf_counter() - started,
            "-" if after is None else f"{after:.1f}",
        )
        return True


def _seconds_since(iso: str | None) -> float | None:
    if not iso:
        return None
    return (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
