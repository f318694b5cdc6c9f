"""The persona corpus: what the CEO said, one ``{"topic", "prompt", "reply"}`` object per line.

Training and evaluation put each example in the same messages a live call sends the model
(the persona's system prompt, then the caller's words with the knowledge notes a call would
retrieve for them), so the adapter learns in the context it is served in: without the notes
it learns to answer in his voice and to ignore them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ceoline.config import Config
from ceoline.errors import CeolineError
from ceoline.persona.profile import Persona
from ceoline.trust.dialogue import Action, DialoguePolicy
from ceoline.trust.grounding import question_with_notes
from ceoline.voice.llm import Message

KEYS = ("topic", "prompt", "reply")


@dataclass(frozen=True)
class Example:
    topic: str
    prompt: str
    reply: str
    line: int = 0


def load_examples(path: Path) -> list[Example]:
    """Every example in ``path``; raises :class:`CeolineError` naming the first bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CeolineError(
            f"{path}: corpus file not found; pass --corpus or set [persona.train] in the config"
        ) from None
    except UnicodeDecodeError:
        raise CeolineError(f"{path}: corpus is not UTF-8 text") from None
    examples = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise CeolineError(f"{path}:{number}: not a JSON object; one object per line") from None
        if not isinstance(row, dict) or set(row) != set(KEYS):
            raise CeolineError(
                f"{path}:{number}: expected exactly the keys {', '.join(KEYS)} in a JSON object"
            )
        if not all(isinstance(row[k], str) and row[k].strip() for k in KEYS):
            raise CeolineError(f"{path}:{number}: topic, prompt and reply must be non-empty text")
        examples.append(
            Example(row["topic"].strip(), row["prompt"].strip(), row["reply"].strip(), number)
        )
    if not examples:
        raise CeolineError(f"{path}: corpus has no examples")
    return examples


def chat_messages(
    persona: Persona, prompt: str, reply: str | None = None, notes: tuple[str, ...] = ()
) -> list[Message]:
    messages = [
        Message("system", persona.system_prompt()),
        Message("user", question_with_notes(prompt, notes)),
    ]
    if reply is not None:
        messages.append(Message("assistant", reply))
    return messages


def notes_for(config: Config, persona: Persona, knowledge, prompt: str) -> tuple[str, ...]:
    """The knowledge notes a live call would put beside ``prompt`` (none when the caller's
    words never reach the model, or the notes do not cover them)."""
    if knowledge is None:
        return ()
    decision = DialoguePolicy(config, persona, knowledge).decide(prompt)
    return decision.notes if decision.action is Action.LLM else ()
