"""When a call ends on its own: caller silence, the length limit, a shutdown.

A driver (simulated or SIP call) asks :meth:`CallLifecycle.tick` every 20 ms tick. Silence
is counted from the last moment anything happened on the line (caller speech, a reply being
prepared or spoken, the still-there prompt), so a caller listening to a long answer is never
"silent". An ending is always spoken first: the goodbye plays out, then the driver hangs up
with the reason returned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ceoline.config import CallConfig
from ceoline.persona.profile import Persona
from ceoline.trust.languages import ENGLISH, Language

log = logging.getLogger(__name__)

# A goodbye that cannot be played (the caller talks over it without end) is given up on.
GOODBYE_LIMIT_MS = 15_000


def ending_lines(persona: Persona, language: Language = ENGLISH) -> dict[str, str]:
    """What the bot says before each hang-up of its own, keyed by end reason."""
    said = language.lines
    return {
        "silence": f"{said.silence_goodbye} {persona.goodbye_line}",
        "max_duration": f"{said.max_duration_goodbye} {persona.goodbye_line}",
        "shutdown": f"{said.shutdown_goodbye} {persona.goodbye_line}",
    }


def fixed_lines(persona: Persona, language: Language = ENGLISH) -> list[str]:
    """Every fixed line a call may play, so start-up can synthesize them ahead of calls."""
    still_there = language.lines.still_there
    return [persona.greeting, still_there, *ending_lines(persona, language).values()]


@dataclass
class CallLifecycle:
    conversation: object  # Conversation; typed loosely to keep this module free of it
    call: CallConfig
    persona: Persona
    language: Language = ENGLISH
    _quiet_since_ms: int = 0
    _prompted: bool = False
    _ending: str | None = None
    _ending_since_ms: int | None = None

    @property
    def ending(self) -> str | None:
        return self._ending

    def end(self, reason: str) -> None:
        """Start the goodbye for ``reason`` (no effect once an ending is under way)."""
        if self._ending is not None:
            return
        self._ending = reason
        log.info("call ending: %s", reason)
        self.conversation.finish(ending_lines(self.persona, self.language)[reason])

    def tick(self, t_ms: int) -> str | None:
        """The end reason once the goodbye has been heard and the call should hang up."""
        conv = self.conversation
        if self._ending is None and getattr(conv, "end_reason", None):
            self._ending = conv.end_reason  # the conversation ended it (a goodbye, a transfer)
        if self._ending is not None:
            if self._ending_since_ms is None:
                self._ending_since_ms = t_ms
            if conv.finished or t_ms - self._ending_since_ms >= GOODBYE_LIMIT_MS:
                return self._ending
            return None
        if t_ms >= self.call.max_duration_s * 1000:
            self.end("max_duration")
            return None
        if conv.caller_speaking:
            self._prompted = False
        if not conv.idle:
            self._quiet_since_ms = t_ms
            return None
        silent_ms = t_ms - self._quiet_since_ms
        if silent_ms >= self.call.silence_timeout_s * 1000:
            self.end("silence")
        elif (
            self.call.silence_prompt_s
            and not self._prompted
            and silent_ms >= self.call.silence_prompt_s * 1000
        ):
            self._prompted = True
            conv.say(self.language.lines.still_there)
        return None
