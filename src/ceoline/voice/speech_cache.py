"""Fixed lines' speech kept on disk across restarts.

A process synthesizes every fixed line (the greeting, goodbyes, refusals, the handoff lines)
before it takes a call, so the first caller does not wait for Piper: about 30 lines, 8-16 s
on two cores. A worker the supervisor restarts after a crash, or a box started again, would
pay that each time; with the audio kept here it reads files instead.

Only the hotline's own words are kept: fixed lines and sentences of the notes, never a
caller's words or a model's reply. A file is named by the voice (its model files' size and
modification time, or espeak-ng's voice), the synthesis settings and the text, so a changed
voice or setting is synthesized afresh; a file that cannot be read is synthesized again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Files kept at most (about 100 kB each): the fixed lines of a few lines and voices, and the
# sentences of their notes; the least recently written go first.
MAX_FILES = 1024
_SUFFIX = ".pcm"


def file_identity(*paths: Path) -> str:
    """A model's files as they are on disk: path, size and modification time."""
    parts = []
    for path in paths:
        st = path.stat()
        parts.append(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


class SpeechCache:
    """Synthesized 16 kHz int16 audio by (voice, text). ``directory`` None: nothing is kept."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._lock = threading.Lock()
        if directory is not None:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning("speech cache off: cannot create %s (%s)", directory, exc.strerror)
                self.directory = None

    def _file(self, voice: str, text: str) -> Path | None:
        if self.directory is None:
            return None
        key = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()
        return self.directory / f"{key}{_SUFFIX}"

    def get(self, voice: str, text: str) -> np.ndarray | None:
        path = self._file(voice, text)
        if path is None:
            return None
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        if len(raw) % 2:
            # A torn file (a crash mid-write on a file system without atomic rename).
            path.unlink(missing_ok=True)
            return None
        return np.frombuffer(raw, dtype=np.int16).copy()

    def put(self, voice: str, text: str, pcm: np.ndarray) -> None:
        path = self._file(voice, text)
        if path is None:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            tmp.write_bytes(np.asarray(pcm, dtype=np.int16).tobytes())
            os.replace(tmp, path)
        except OSError as exc:
            # The cache only saves start-up time: a full or read-only disk must not stop a call.
            log.warning("speech cache off: cannot write %s (%s)", path.parent, exc.strerror)
            tmp.unlink(missing_ok=True)
            self.directory = None
            return
        self._prune()

    def _prune(self) -> None:
        with self._lock:
            directory = self.directory
            if directory is None:
                return
            try:
                files = [p for p in directory.iterdir() if p.suffix == _SUFFIX]
                if len(files) <= MAX_FILES:
                    return
                files.sort(key=lambda p: p.stat().st_mtime_ns)
                for old in files[: len(files) - MAX_FILES]:
                    old.unlink(missing_ok=True)
            except OSError:
                pass  # another process pruned the same files first
