"""Running the CLI as an admin does: a child process, its exit status and stderr."""

import os
import subprocess
import sys

from .conftest import ROOT


def run_cli(*args, config=None, env=None):
    full_env = {**os.environ, **(env or {})}
    cmd = [sys.executable, "-m", "ceoline"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(
        [*cmd, *map(str, args)], capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=300
    )


def one_line_error(result, pattern: str, code: int) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert pattern in lines[0], lines[0]
