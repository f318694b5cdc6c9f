"""Per-turn stage timings, in milliseconds on the call's timeline.

``response`` is what the caller feels: end of their speech → first bot audio sample sent.
It is roughly ``endpoint + stt + llm_first_token + (tokens to the first clause) +
tts_first_audio`` plus at most one 20 ms frame of playout alignment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

STAGES = ("endpoint", "stt", "llm_first_token", "tts_first_audio", "response")


@dataclass
class TurnTimings:
    endpoint: float | None = None
    stt: float | None = None
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    response: float | None = None
    # Not part of the latency chain, kept to explain it:
    stt_compute: float | None = None
    stt_prefetched: bool = False
    llm_total: float | None = None
    reply_tokens: int = 0
    # The reply model could not be reached (the shared service down): fixed lines only.
    model_unavailable: bool = False
    # Model sentences of a grounded answer that the notes did not back: never spoken.
    dropped_sentences: int = 0
    # When the model finished, in ms after the end of caller speech: a reply whose
    # `response` is smaller was heard before its text was complete.
    llm_done: float | None = None
    # The turn model's verdict that ended the turn: P(finished) and its inference time;
    # turn_checks counts how often it was asked during the turn's pauses.
    turn_complete: float | None = None
    turn_model: float | None = None
    turn_checks: int = 0
    # The reply model's P(the caller's message ends here) on the last pause's words, and
    # the time it took to read them.
    turn_words: float | None = None
    turn_words_ms: float | None = None
    # The turn reader's P(the caller has finished) on the same words.
    turn_finished: float | None = None
    # The reply was prepared during the pause, before the turn was judged over.
    speculative: bool = False
    # Replies prepared at pauses the caller spoke on after, thrown away unheard, and the
    # model tokens they had cost.
    discarded_replies: int = 0
    discarded_tokens: int = 0
    # Where the caller's speech ended on the call's timeline (to place the marks above).
    speech_end_ms: float | None = field(default=None, metadata={"internal": True})

    def as_dict(self) -> dict:
        internal = {f.name for f in fields(self) if f.metadata.get("internal")}
        return {
            k: (round(v, 1) if isinstance(v, float) else v)
            for k, v in asdict(self).items()
            if v is not None and k not in internal
        }


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return float(ordered[int(rank) - 1])
