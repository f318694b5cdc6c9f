"""The persona: who the hotline speaks as, loaded from ``configs/persona.toml``.

The AI and transcription disclosure is built here, not taken from the file, so no persona
edit can remove it (EU AI Act Art. 50; all-party consent for recording).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ceoline.errors import ConfigError

_REQUIRED = ("name", "company", "role", "tone", "opening_line", "goodbye_line", "facts")
_OPTIONAL = ("signature_phrases", "acknowledgements")
# What a caller's words may be, as the feedback rules sort them, that a reply acknowledges.
ACKNOWLEDGED = ("complaint", "suggestion", "praise")
# The disclosure in each language a line may speak in (the line sets the persona's).
DISCLOSURES = {
    "en": "Hi, this is an AI version of {name}, {company}'s {role}. This call is transcribed.",
    # UK GDPR asks that callers hear why their words are kept, not only that they are.
    "en-gb": (
        "Hello, you're speaking with an AI version of {name}, {company}'s {role}. This call is "
        "transcribed and kept for our product teams."
    ),
    "sv": "Hej, det här är en AI-version av {name}, {role} på {company}. Samtalet transkriberas.",
}


@dataclass(frozen=True)
class Persona:
    name: str
    company: str
    role: str
    tone: str
    opening_line: str
    goodbye_line: str
    facts: tuple[str, ...]
    # Turns of phrase the persona is known for; `ceoline persona eval` counts them.
    signature_phrases: tuple[str, ...] = ()
    # (kind, lines) for each kind in ACKNOWLEDGED the persona acknowledges: a reply to such
    # words opens with one of the lines, said at once, and the model goes on from it.
    acknowledgements: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The language the persona speaks in: its line's, not the file's to choose.
    language: str = "en"

    def acknowledgements_for(self, kind: str) -> tuple[str, ...]:
        return dict(self.acknowledgements).get(kind, ())

    @property
    def disclosure(self) -> str:
        return DISCLOSURES[self.language].format(
            name=self.name, company=self.company, role=self.role
        )

    @property
    def greeting(self) -> str:
        return f"{self.disclosure} {self.opening_line}"

    def system_prompt(self) -> str:
        facts = "\n".join(f"- {fact}" for fact in self.facts)
        return (
            f"You are an AI voice assistant speaking as {self.name}, {self.role} of "
            f"{self.company}, on the company's feedback hotline. Callers know you are an AI. "
            f"Tone: {self.tone}\n"
            "Rules: answer in one to three short spoken sentences, in plain words, with no "
            "lists, no markdown and no emoji. Thank callers for feedback. If you do not know "
            "something, say so. You cannot make payments, refunds or account changes.\n"
            f"Facts about {self.company}:\n{facts}"
        )


def load_persona(path: Path) -> Persona:
    source = str(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{source}: persona file not found; set [persona] file in the config to an "
            "existing persona TOML"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: invalid persona TOML ({exc})") from None
    unknown = sorted(set(table) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ConfigError(
            f"{source}: unknown persona key '{unknown[0]}'; allowed keys: "
            f"{', '.join(_REQUIRED + _OPTIONAL)}"
        )
    missing = [key for key in _REQUIRED if key not in table]
    if missing:
        raise ConfigError(f"{source}: persona key '{missing[0]}' is missing; add it")
    for key in _REQUIRED[:-1]:
        if not isinstance(table[key], str) or not table[key].strip():
            raise ConfigError(f"{source}: persona key '{key}' must be a non-empty string")
    facts = table["facts"]
    if (
        not isinstance(facts, list)
        or not facts
        or not all(isinstance(f, str) and f.strip() for f in facts)
    ):
        raise ConfigError(f"{source}: persona key 'facts' must be a non-empty list of strings")
    return Persona(
        name=table["name"].strip(),
        company=table["company"].strip(),
        role=table["role"].strip(),
        tone=table["tone"].strip(),
        opening_line=table["opening_line"].strip(),
        goodbye_line=table["goodbye_line"].strip(),
        facts=tuple(f.strip() for f in facts),
        signature_phrases=_phrases(table.get("signature_phrases", []), source),
        acknowledgements=_acknowledgements(table.get("acknowledgements", {}), source),
    )


def _phrases(value: object, source: str, key: str = "signature_phrases") -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise ConfigError(f"{source}: persona key '{key}' must be a list of non-empty strings")
    return tuple(p.strip() for p in value)


def _acknowledgements(value: object, source: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{source}: persona key 'acknowledgements' must be a table of kinds "
            f"({', '.join(ACKNOWLEDGED)}), each a list of lines"
        )
    unknown = sorted(set(value) - set(ACKNOWLEDGED))
    if unknown:
        raise ConfigError(
            f"{source}: unknown kind '{unknown[0]}' in [acknowledgements]; allowed kinds: "
            f"{', '.join(ACKNOWLEDGED)}"
        )
    table = []
    for kind in ACKNOWLEDGED:
        if kind in value:
            lines = _phrases(value[kind], source, f"acknowledgements.{kind}")
            if lines:
                table.append((kind, lines))
    return tuple(table)
