"""A reply prepared while the caller pauses, held until the turn is judged over.

At the first pause worth it the conversation starts the whole reply path on what the caller has
said so far: transcript, decision, model, first audio. None of it is heard, stored or kept in
the history until the turn ends on that same pause; then the prepared reply is the turn's
reply and its first audio is already there. When the caller goes on instead, the preparation
is cancelled (the model stops at its next token) and what it had cost is counted.

The decision is taken on a fork of the dialogue policy, because deciding changes its state
(a pending offer, a message being taken); the fork replaces the policy only if it is used.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ceoline.trust.dialogue import Decision, DialoguePolicy
from ceoline.voice.endpointing import SpeechPaused
from ceoline.voice.timings import TurnTimings
from ceoline.voice.utterance import Utterance


@dataclass
class Speculation:
    paused: SpeechPaused
    transcript: asyncio.Future
    timings: TurnTimings
    # Set once the preparation has decided (or declined) what the reply is.
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    text: str = ""
    decision: Decision | None = None
    policy: DialoguePolicy | None = None
    reply: Utterance | None = None
    # Done once the reply model has read the words for the turn judge: the reply is written
    # after it, from the prompt prefix that reading evaluated.
    words_read: asyncio.Future | None = None

    @property
    def prepared(self) -> bool:
        return self.reply is not None

    def discard(self) -> int:
        """Stop the preparation; the model tokens it had already cost."""
        if self.task is not None:
            self.task.cancel()
        return self.timings.reply_tokens
