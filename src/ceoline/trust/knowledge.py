"""Grounded answers: Markdown reference notes indexed with SQLite FTS5.

The notes (``configs/knowledge/*.md``) are split at headings into short passages written to be
read aloud. ``search`` turns a caller's transcribed words into a safe FTS5 query and returns the
few passages that match well enough, or nothing, so the persona answers from the notes instead
of guessing.

The index lives in its own database (``knowledge.db`` in the data directory), apart from the
call store: it is a cache of the notes and can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ceoline.config import KnowledgeConfig
from ceoline.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from ceoline.config import Config

log = logging.getLogger(__name__)

DB_NAME = "knowledge.db"
MAX_PASSAGE_WORDS = 80
MAX_QUERY_TERMS = 32
MAX_TERM_CHARS = 40
MAX_LIMIT = 100

# Bumped whenever splitting or the schema changes: an index built by other code is rebuilt
# even though no note changed.
INDEX_VERSION = 1

# A heading match says more about what a passage is for than the same word in its body.
HEADING_WEIGHT = 2.0
TEXT_WEIGHT = 1.0

_SCHEMA = (
    "CREATE TABLE knowledge_files (path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, "
    "indexed_at TEXT NOT NULL)",
    "CREATE TABLE passages (id INTEGER PRIMARY KEY, source TEXT NOT NULL, "
    "heading TEXT NOT NULL, text TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE passages_fts USING fts5(heading, text, content='passages', "
    "content_rowid='id', tokenize='porter unicode61')",
    # The weighted bm25() as the table's own rank lets FTS5 return rows already in rank order
    # instead of scoring every match and sorting afterwards.
    "INSERT INTO passages_fts(passages_fts, rank) "
    f"VALUES ('rank', 'bm25({HEADING_WEIGHT}, {TEXT_WEIGHT})')",
)

# bm25() is lower-is-better and negative, so its negation is a score where higher is better.
SEARCH_SQL = (
    "SELECT p.source, p.heading, p.text, -passages_fts.rank FROM passages_fts "
    "JOIN passages AS p ON p.id = passages_fts.rowid WHERE passages_fts MATCH ? "
    "ORDER BY passages_fts.rank LIMIT ?"
)

# Words that say nothing about which note a caller wants: function words, question words and
# the fillers Whisper writes out ("um", "like", "you know").
_STOPWORD_LIST = """
    a about above after again all also am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don
    down during each else ever few for from further get gets getting got had hadn has hasn have
    haven having he her here hers herself him himself his how i if in into is isn it its itself
    just let me might more most must mustn my myself no nor not now of off on once only or other
    ought our ours ourselves out over own same shall she should shouldn so some such than that
    the their theirs them themselves then there these they this those through to too under
    until up very was wasn we were weren what whats when where which while who whom whose why
    will with won would wouldn you your yours yourself yourselves ll re ve

    um umm uh uhh er erm ah oh hmm mm mhm yeah yep yes ok okay hi hey hello thanks thank please
    well like really actually basically literally kind sort maybe guess mean know tell say
    said wondering wonder wanted want wanna gonna gotta curious question quick anyway right
    sure something anything thing things stuff bit lot many much guys folks come comes came
    go goes going went make makes made today time day back
"""
STOPWORDS = frozenset(_STOPWORD_LIST.split())

_TERM = re.compile(r"[^\W_]+")
# Callers often introduce themselves; their name would otherwise pull in whichever note
# mentions names or a namesake.
_SELF_INTRO = re.compile(r"\bmy name(?:['’]s|\s+is)\s+[^\W_]+")


@dataclass(frozen=True)
class Passage:
    source: str
    heading: str
    text: str
    score: float


@dataclass(frozen=True)
class IndexStats:
    files: int
    passages: int
    changed: bool


# -- the caller's words -> an FTS5 query -------------------------------------------------------


def query_terms(text: str) -> list[str]:
    """The distinct content words of ``text``, in order, at most MAX_QUERY_TERMS of them."""
    seen: dict[str, None] = {}
    # NFKC first: "ﬁ" or an accent typed as a separate mark must not split a word in two.
    text = _SELF_INTRO.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    for match in _TERM.finditer(text):
        term = match.group()
        if len(term) < 2 or len(term) > MAX_TERM_CHARS or term in STOPWORDS:
            continue
        seen.setdefault(term, None)
        if len(seen) == MAX_QUERY_TERMS:
            break
    return list(seen)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for caller speech, or None when it has no content words.

    Caller speech is untrusted: every term is a quoted string, so words like NEAR, AND or a
    stray ``*`` are searched for as words and never parsed as FTS5 syntax.
    """
    terms = query_terms(text) if isinstance(text, str) else []
    if not terms:
        return None
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


# -- Markdown -> speakable passages ------------------------------------------------------------

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_LINK_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")

_INLINE = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][^>]*>"), " "),
    (re.compile(r"`+([^`]*)`+"), r"\1"),
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"\1"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),
    (re.compile(r"\s+"), " "),
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+")


def speakable(markdown: str) -> str:
    """One line of Markdown as plain words: links, emphasis and code marks removed."""
    text = markdown
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text.strip()


def _finish(sentence: str) -> str:
    # A list item or table row is read as its own sentence, so it needs an ending.
    return sentence if sentence.endswith((".", "!", "?", "…", ":")) else sentence + "."


def _sections(markdown: str, title: str) -> Iterator[tuple[str, list[str]]]:
    """(heading, units of speakable text) for every heading, in order."""
    heading, units, paragraph = title, [], []
    in_fence = False

    def flush_paragraph() -> None:
        if paragraph:
            joined = speakable(" ".join(paragraph))
            if joined:
                units.append(_finish(joined))
            paragraph.clear()

    for line in _COMMENT.sub("", markdown).splitlines():
        if _FENCE.match(line):
            flush_paragraph()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        if match := _HEADING.match(line):
            flush_paragraph()
            yield heading, units
            heading, units = speakable(match.group(2)), []
            continue
        if not line.strip() or _RULE.match(line) or _LINK_DEF.match(line):
            flush_paragraph()
            continue
        line = _QUOTE.sub("", line)
        if "|" in line and line.strip().startswith("|"):
            flush_paragraph()
            if not _TABLE_RULE.match(line):
                cells = [speakable(c) for c in line.strip().strip("|").split("|")]
                row = ", ".join(c for c in cells if c)
                if row:
                    units.append(_finish(row))
            continue
        if _LIST_ITEM.match(line):
            flush_paragraph()
            line = _LIST_ITEM.sub("", line)
        paragraph.append(line.strip())
    flush_paragraph()
    yield heading, units


def _pack(units: list[str], max_words: int) -> Iterator[str]:
    """Whole sentences packed into passages of at most ``max_words`` words."""
    current: list[str] = []
    count = 0
    for unit in units:
        for sentence in _SENTENCE_BREAK.split(unit):
            words = sentence.split()
            if not words:
                continue
            if current and count + len(words) > max_words:
                yield " ".join(current)
                current, count = [], 0
            # A sentence longer than a whole passage is cut at words: the passage bound is what
            # keeps the notes inside the model's small context window.
            while len(words) > max_words:
                yield " ".join(words[:max_words])
                words = words[max_words:]
            current.append(" ".join(words))
            count += len(words)
    if current:
        yield " ".join(current)


def split_markdown(
    markdown: str, title: str = "", max_words: int = MAX_PASSAGE_WORDS
) -> list[tuple[str, str]]:
    """(heading, text) passages: one per heading section, long sections split at sentences.

    Text before the first heading is headed ``title``.
    """
    passages = []
    for heading, units in _sections(markdown, title):
        for text in _pack(units, max_words):
            passages.append((heading, text))
    return passages


# -- the index ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NoteFile:
    name: str
    sha256: str
    text: str

    @property
    def title(self) -> str:
        return Path(self.name).stem.replace("_", " ").replace("-", " ")


def _read_notes(directory: Path) -> list[_NoteFile]:
    if not directory.is_dir():
        if directory.exists():
            raise ConfigError(
                f"{directory}: the knowledge dir is not a directory; set [knowledge] dir to a "
                "directory of Markdown (.md) notes"
            )
        raise ConfigError(
            f"{directory}: knowledge directory not found; create it with Markdown (.md) notes "
            "or set [knowledge] dir in the config"
        )
    try:
        paths = sorted(p for p in directory.iterdir() if p.suffix == ".md")
    except OSError as exc:
        raise ConfigError(
            f"{directory}: cannot list the knowledge directory ({exc.strerror}); make it readable"
        ) from None
    if not paths:
        raise ConfigError(
            f"{directory}: no .md files in the knowledge directory; add Markdown notes there "
            "or set [knowledge] dir to where they are"
        )
    notes = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot read knowledge file ({exc.strerror}); make it readable or move "
                f"it out of {directory}"
            ) from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError(
                f"{path}: knowledge file is not UTF-8 text; save it as UTF-8"
            ) from None
        notes.append(_NoteFile(path.name, hashlib.sha256(raw).hexdigest(), text))
    return notes


class KnowledgeBase:
    """The passage index: build it with :meth:`index`, query it with :meth:`search`."""

    def __init__(self, path: Path, *, min_score: float = KnowledgeConfig().min_score):
        self.path = path
        self.min_score = min_score
        # Bumped whenever the passages change, so derived views know to rebuild.
        self.generation = 0
        conn = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # The index is rebuilt from the notes on demand, so a lost commit costs nothing.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            _ensure_schema(conn)
        except (OSError, sqlite3.Error) as exc:
            if conn is not None:
                conn.close()
            raise StoreError(
                f"cannot open the knowledge index at {path} ({exc}); make [store] data_dir a "
                "writable directory"
            ) from None
        self._conn = conn
        # Conversations search from worker threads; one connection, one user at a time.
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        min_score: float = KnowledgeConfig().min_score,
        name: str = DB_NAME,
    ):
        return cls(data_dir / name, min_score=min_score)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stats(self) -> IndexStats:
        with self._lock:
            files = self._conn.execute("SELECT COUNT(*) FROM knowledge_files").fetchone()[0]
            passages = self._conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return IndexStats(files=files, passages=passages, changed=False)

    def index(self, directory: Path | Sequence[Path], force: bool = False) -> IndexStats:
        """Index the ``*.md`` notes in ``directory`` (or in each of several, kept apart as
        ``DIR/NOTE.md``) unless they are what is indexed already.

        Every note is read before anything is written, and the rewrite is one transaction, so
        an unreadable note or a failed write leaves the previous index answering.
        """
        if isinstance(directory, (str, Path)):
            notes = _read_notes(Path(directory))
        else:
            notes = [
                replace(note, name=f"{Path(each).name}/{note.name}")
                for each in directory
                for note in _read_notes(Path(each))
            ]
        # In order: the passages keep the notes' order (a line's own notes before the
        # company's), which decides whose names lead Whisper's hotwords.
        wanted = [(note.name, note.sha256) for note in notes]
        rows = [
            (note.name, heading, text)
            for note in notes
            for heading, text in split_markdown(note.text, note.title)
        ]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            try:
                indexed = self._conn.execute(
                    "SELECT path, sha256 FROM knowledge_files ORDER BY rowid"
                ).fetchall()
                if indexed == wanted and not force:
                    return self.stats()
                with _Transaction(self._conn):
                    self._conn.execute("DELETE FROM knowledge_files")
                    self._conn.execute("DELETE FROM passages")
                    self._conn.executemany(
                        "INSERT INTO passages (source, heading, text) VALUES (?, ?, ?)", rows
                    )
                    self._conn.executemany(
                        "INSERT INTO knowledge_files (path, sha256, indexed_at) VALUES (?, ?, ?)",
                        [(note.name, note.sha256, now) for note in notes],
                    )
                    self._conn.execute("INSERT INTO passages_fts(passages_fts) VALUES ('rebuild')")
            except sqlite3.Error as exc:
                raise StoreError(
                    f"cannot write the knowledge index at {self.path} ({exc}); the previous "
                    "index is unchanged; check free space and that [store] data_dir is writable"
                ) from None
        log.info("knowledge: indexed %d passages from %d files", len(rows), len(notes))
        self.generation += 1
        return IndexStats(files=len(notes), passages=len(rows), changed=True)

    def passages(self) -> list[Passage]:
        """Every passage, in the notes' own order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT source, heading, text FROM passages ORDER BY id"
            ).fetchall()
        return [Passage(source, heading, body, 0.0) for source, heading, body in rows]

    def search(self, text: str, limit: int = 2) -> list[Passage]:
        """The best passages for what the caller said, best first; [] when nothing fits."""
        query = fts_query(text)
        if query is None or limit <= 0:
            return []
        with self._lock:
            try:
                rows = self._conn.execute(SEARCH_SQL, (query, min(limit, MAX_LIMIT))).fetchall()
            except sqlite3.Error as exc:
                # A caller must still get an answer, just an ungrounded one.
                log.warning("knowledge search failed (%s); answering without the notes", exc)
                return []
        return [
            Passage(source, heading, body, score)
            for source, heading, body, score in rows
            if score >= self.min_score
        ]


def _ensure_schema(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA user_version").fetchone()[0] == INDEX_VERSION:
        return
    with _Transaction(conn):
        for table in ("passages_fts", "passages", "knowledge_files"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {INDEX_VERSION}")


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error so the old index stays whole."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False


def open_knowledge(
    config: Config, notes: Path | Sequence[Path] | None = None, name: str = DB_NAME
) -> KnowledgeBase:
    """The configured knowledge base (or a line's: its ``notes`` directories, indexed into
    data_dir/``name``), re-indexed first if any note changed."""
    kb = KnowledgeBase.open(config.data_dir, min_score=config.knowledge.min_score, name=name)
    try:
        kb.index(notes or config.knowledge_dir)
    except BaseException:
        kb.close()
        raise
    return kb
