"""What every command shares: the --config and --json options, the config the root
--config named, and safe display of stored text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from ceoline.config import Config, load_config
from ceoline.errors import CeolineError, ConfigError

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config TOML (default: $CEOLINE_CONFIG, then ./configs/ceoline.toml).",
        show_default=False,
    ),
]


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


class _State:
    config_path: Path | None = None
    log_level_given = False


state = _State()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe(text: object) -> str:
    """Stored text came from callers and the wire: show control characters, never obey them."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def config_of(override: Path | None) -> Config:
    return load_config(override or state.config_path)


def engines_for(config: Config, start_service: bool = True):
    """The loaded models. In shared inference mode the service is started first, unless one
    already answers on its port or ``start_service`` is false (a cluster's worker: the
    supervisor runs it); it is stopped when this process exits."""
    from ceoline.engines import Engines, start_inference
    from ceoline.inference.service import health

    if config.inference.mode == "shared" and start_service and not health(config, timeout=0.3):
        import atexit

        atexit.register(start_inference(config).stop)
    return Engines.load(config)


def checked_line(config: Config, line: str | None) -> str | None:
    """``--line NAME`` as given, once it is known to be one of the config's lines."""
    from ceoline.lines import line_configs

    names = [setting.name for setting in line_configs(config)]
    if line is not None and line not in names:
        raise ConfigError(f"--line {line!r}: this config's lines are {', '.join(names)}")
    return line


def line_stages(config: Config, line: str | None = None):
    """The loaded models as a call on ``line`` (a [[lines]] name; the first when None) uses
    them. An unknown name is refused before any model loads."""
    return engines_for(config).on_line(checked_line(config, line))


def actor(by: str | None) -> str:
    import getpass

    who = by or getpass.getuser()
    return f"{who} (cli)"[:64]


def pick(option: str, value: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The comma-separated choices of ``option``, each one of ``allowed``."""
    chosen = tuple(x.strip() for x in value.split(",") if x.strip())
    bad = [x for x in chosen if x not in allowed]
    if bad or not chosen:
        raise CeolineError(
            f"{option} {','.join(bad) or '(none)'}: choose from {', '.join(allowed)}"
        )
    return chosen
