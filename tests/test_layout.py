"""The package layout is the architecture: no module imports across a forbidden line.

Each package's ``__init__`` docstring states what it may import; this test reads every
import in ``src/ceoline`` (lazy ones inside functions too) with ``ast`` and holds the code to
those lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

SRC = ROOT / "src" / "ceoline"
PACKAGES = (
    "voice", "trust", "insights", "persona", "sip", "web", "admin", "cluster", "webhooks",
    "inference",
)  # fmt: skip
EVERYTHING = {*PACKAGES, "core", "cli"}

# Part -> parts it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "core": set(PACKAGES) | {"cli"},
    "voice": {"persona", "sip", "web", "insights", "admin", "cli", "webhooks"},
    "trust": {"voice", "persona", "sip", "web", "insights", "admin", "cli", "webhooks"},
    "insights": {"voice", "trust", "persona", "sip", "web", "admin", "cli", "webhooks"},
    "persona": {"sip", "web", "insights", "admin", "cli", "webhooks"},
    "sip": {"admin", "cli"},
    "web": {"voice", "trust", "persona", "sip", "admin", "cli", "webhooks"},
    "admin": {"cli"},
    "cluster": {"voice", "trust", "persona", "sip", "insights", "admin", "cli", "webhooks"},
    "webhooks": {"voice", "trust", "persona", "sip", "web", "insights", "admin", "cli"},
    "inference": {
        "trust",
        "persona",
        "sip",
        "web",
        "insights",
        "admin",
        "cluster",
        "webhooks",
        "cli",
    },
    "cli": set(),
}
# The few named crossings, each for a reason stated in the importing package's docstring.
ALLOWED: dict[str, set[str]] = {
    # Everyone reads the persona's profile; the rest of persona is tooling above the loop.
    "voice": {"ceoline.persona.profile"},
    "trust": {"ceoline.persona.profile"},
    # The dashboard charts the voice loop's stage names.
    "web": {"ceoline.voice.timings"},
    # The shared service's client renders and reads prompts by the local model's own rules.
    "inference": {"ceoline.voice.llm"},
}
# Core modules that compose the parts: the model loader, the lines (a persona and its notes
# per dialed number) and the redacting store.
CORE_ALLOWED: dict[str, set[str]] = {
    "ceoline.engines": {"voice", "trust", "persona", "inference"},
    "ceoline.lines": {"trust", "persona"},
    "ceoline.store": {"ceoline.trust.redaction"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    pieces = module.split(".")
    if len(pieces) > 1 and pieces[1] == "__main__":
        return "cli"
    if len(pieces) == 1:
        return "core"
    if pieces[1] in PACKAGES:
        return pieces[1]
    return "cli" if pieces[1] == "cli" else "core"


def is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (SRC / relative).with_suffix(".py").exists() or (SRC / relative).is_dir()


def imports_of(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ceoline")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("ceoline"):
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if is_module(candidate) else node.module)
    return found


def sources() -> dict[str, str]:
    return {module_name(p): p.read_text() for p in sorted(SRC.rglob("*.py"))}


def crossings(modules: dict[str, str]) -> list[str]:
    bad = []
    for source, text in modules.items():
        part = part_of(source)
        for target in sorted(imports_of(text)):
            target_part = part_of(target)
            if target_part not in FORBIDDEN[part]:
                continue
            allowed = ALLOWED.get(part, set()) | CORE_ALLOWED.get(source, set())
            if target in allowed or target_part in allowed:
                continue
            bad.append(f"{source} ({part}) imports {target} ({target_part})")
    return bad


def test_no_module_imports_across_a_forbidden_line():
    assert crossings(sources()) == []


def test_the_check_sees_a_crossing():
    # A voice module that imports sip, trust one that imports the loop: caught, lazy or not.
    probes = {
        "ceoline.voice.probe": "def f():\n    from ceoline.sip import server\n",
        "ceoline.trust.probe": "from ceoline.voice.llm import Message\n",
        "ceoline.config": "import ceoline.web.app\n",
    }
    assert set(crossings({**sources(), **probes})) == {
        "ceoline.voice.probe (voice) imports ceoline.sip.server (sip)",
        "ceoline.trust.probe (trust) imports ceoline.voice.llm (voice)",
        "ceoline.config (core) imports ceoline.web.app (web)",
    }


def test_the_persona_profile_stands_alone():
    assert imports_of((SRC / "persona" / "profile.py").read_text()) <= {"ceoline.errors"}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_says_what_it_is_for_and_may_import(package):
    doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text()))
    assert doc and "May import" in doc, f"ceoline.{package} needs a docstring with its rules"


@pytest.mark.parametrize("package", PACKAGES)
def test_the_tests_mirror_the_packages(package):
    assert (ROOT / "tests" / package / "__init__.py").exists()
    assert list((ROOT / "tests" / package).glob("test_*.py")), f"tests/{package} is empty"
