"""Lines: each dialed number its own persona, notes, language and handoff target.

A box serves any number of lines (``[[lines]]`` in the config); a config without any serves
one line, "main", on every number, as a single hotline always did. What differs per line is
loaded once into a :class:`Line`; what is shared (the models) stays in ``Engines``. A call is
matched to its line when its INVITE arrives (:class:`Switchboard`), and talks with the shared
models seen through that line (``Engines.on_line``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote

from ceoline.config import Config, LineConfig
from ceoline.errors import ConfigError
from ceoline.persona.profile import Persona, load_persona
from ceoline.trust.answers import company_answers
from ceoline.trust.grounding import proper_names
from ceoline.trust.knowledge import DB_NAME, KnowledgeBase, open_knowledge

# The one line of a config without [[lines]].
DEFAULT_LINE = "main"


@dataclass(frozen=True)
class Line:
    name: str
    # The user parts and DIDs this line answers; empty: every number (the single-line box).
    numbers: tuple[str, ...]
    language: str
    persona: Persona
    knowledge: KnowledgeBase
    # The names Whisper is told to expect on this line (see hotwords_for).
    hotwords: str | None
    handoff_uri: str
    # When a transfer may ring someone, and where ("mon-fri 08:00-17:00", "Europe/Stockholm").
    handoff_hours: str = ""
    timezone: str = "UTC"
    # The Whisper it is heard with and the voice it speaks with, as [models] stt and tts name
    # them (a voice may be "espeak-ng:VOICE"); the engines load each once for every line.
    stt: str = "embedded"
    voice: str = "embedded"

    def answers_any_number(self) -> bool:
        return not self.numbers


def line_configs(config: Config) -> tuple[LineConfig, ...]:
    """The configured lines, or the single line of a config without [[lines]]."""
    return config.lines or (LineConfig(name=DEFAULT_LINE),)


def notes_of(config: Config, setting: LineConfig) -> tuple[tuple[Path, ...], str]:
    """A line's notes directories (its own, then the company's where it reads both) and the
    index file (in data_dir) they are kept in: the [knowledge] dir's alone is knowledge.db,
    any other line's knowledge-NAME.db. The line's own come first, so their names lead the
    words Whisper is told to expect (hotwords_for keeps the first few dozen)."""
    own = config.path(setting.knowledge) if setting.knowledge else config.knowledge_dir
    shared = setting.company_notes and own != config.knowledge_dir
    notes = (own, config.knowledge_dir) if shared else (own,)
    return notes, DB_NAME if notes == (config.knowledge_dir,) else f"knowledge-{setting.name}.db"


def hotwords_for(config: Config, persona: Persona, passages: list[str]) -> str | None:
    """What Whisper is told to expect: with "auto", the persona, the company and the names in
    the notes, which a small Whisper otherwise hears as ordinary words ("Quilford")."""
    setting = config.stt.hotwords.strip()
    if setting != "auto":
        return setting or None
    names = [persona.name, persona.company, *proper_names([persona.name, *passages])]
    return " ".join(dict.fromkeys(w for n in names for w in n.split()))


def load_lines(config: Config) -> tuple[Line, ...]:
    """Every line with its persona read and its notes indexed (again, where they changed).
    Lines with the same notes share one index; the [knowledge] dir keeps knowledge.db."""
    lines = []
    indexes: dict[tuple[Path, ...], KnowledgeBase] = {}
    try:
        for setting in line_configs(config):
            persona_file = config.path(setting.persona) if setting.persona else config.persona_file
            try:
                persona = replace(load_persona(persona_file), language=setting.language)
            except ConfigError as exc:
                raise ConfigError(f"line {setting.name!r}: {exc}") from None
            notes, name = notes_of(config, setting)
            if notes not in indexes:
                try:
                    indexes[notes] = open_knowledge(config, notes, name)
                except ConfigError as exc:
                    raise ConfigError(f"line {setting.name!r}: {exc}") from None
            knowledge = indexes[notes]
            answers = company_answers(knowledge, persona.name, persona.company, persona.facts)
            lines.append(
                Line(
                    name=setting.name,
                    numbers=tuple(n for n in (setting.number, *setting.dids) if n),
                    language=setting.language,
                    persona=persona,
                    knowledge=knowledge,
                    hotwords=hotwords_for(config, persona, answers.passages),
                    handoff_uri=setting.handoff_uri or config.handoff.uri,
                    handoff_hours=setting.handoff_hours or config.handoff.hours,
                    timezone=setting.timezone or config.handoff.timezone,
                    stt=setting.stt or config.models.stt,
                    voice=setting.voice or config.models.tts,
                )
            )
    except BaseException:
        for kb in indexes.values():
            kb.close()
        raise
    return tuple(lines)


def user_part(uri: str) -> str | None:
    """``sip:hotline-se@box:5060;transport=udp`` (or ``"Ann" <sip:…>``) → ``hotline-se``;
    None when the URI has no user part. Escapes are undone (``%2B46…`` is ``+46…``) and a
    telephone number's visual separators dropped (``+46-8-123`` is ``+468123``, RFC 3966), so
    a number matches however the trunk wrote it."""
    inner = uri.split("<", 1)[1].split(">", 1)[0] if "<" in uri else uri.strip()
    scheme, _, rest = inner.partition(":")
    if scheme.lower() not in ("sip", "sips", "tel"):
        return None
    if scheme.lower() == "tel":
        user = rest.split(";", 1)[0]
    elif "@" in rest:
        user = rest.split("@", 1)[0].split(";", 1)[0]
    else:
        return None
    return plain_number(unquote(user)) or None


def plain_number(user: str) -> str:
    """A telephone number without its visual separators; any other user part as it is."""
    return re.sub(r"[().-]", "", user) if re.fullmatch(r"\+?[0-9().-]+", user) else user


def request_uri(message: str) -> str | None:
    """The Request-URI of a SIP request's first line (``INVITE sip:… SIP/2.0``)."""
    first = message.split("\n", 1)[0].strip().split(" ")
    return first[1] if len(first) == 3 and first[2].startswith("SIP/") else None


class Switchboard:
    """Which line a call is for: its Request-URI's user part, else (a trunk that rewrites the
    Request-URI to the box's own user) the To header's, matched against numbers and DIDs."""

    def __init__(self, lines: tuple[Line, ...]):
        self.lines = lines
        self._by_number = {plain_number(n): line for line in lines for n in line.numbers}

    def route(self, request_user: str | None, to_user: str | None) -> Line | None:
        """The line for a call, or None: nobody answers that number (404)."""
        if len(self.lines) == 1 and self.lines[0].answers_any_number():
            return self.lines[0]
        for user in (request_user, to_user):
            if user and user in self._by_number:
                return self._by_number[user]
        return None

    def named(self, name: str | None) -> Line:
        """The line called ``name``; the first line when None."""
        if name is None:
            return self.lines[0]
        for line in self.lines:
            if line.name == name:
                return line
        raise ConfigError(
            f"no line {name!r}; this config's lines are {', '.join(li.name for li in self.lines)}"
        )
