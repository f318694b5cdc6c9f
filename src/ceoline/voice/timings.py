"""Per-turn stage timings, in milliseconds on the call's timeline.

``response`` is what the caller feels: end of their speech → first bot audio sample sent.
It is roughly ``endpoint + stt + llm_first_token + (tokens to the first clause) +
tts_first_audio`` plus at most one 20 ms frame of playout alignment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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

    def as_dict(self) -> dict:
        return {
            k: (round(v, 1) if isinstance(v, float) else v)
            for k, v in asdict(self).items()
            if v is not None
        }


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return float(ordered[int(rank) - 1])
