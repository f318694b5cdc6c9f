"""The knowledge base: notes split into speakable passages, a safe query from caller speech."""

import json
import shutil
import sqlite3

import pytest

from ceoline.config import parse_config_file
from ceoline.errors import ConfigError, StoreError
from ceoline.trust.knowledge import (
    MAX_PASSAGE_WORDS,
    MAX_QUERY_TERMS,
    SEARCH_SQL,
    IndexStats,
    KnowledgeBase,
    Passage,
    fts_query,
    open_knowledge,
    split_markdown,
)

from ..cli_support import one_line_error, run_cli
from ..conftest import ROOT, make_config

NOTES = ROOT / "configs" / "knowledge"


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    """The shipped notes, indexed once for the read-only tests."""
    base = KnowledgeBase.open(tmp_path_factory.mktemp("kb"))
    base.index(NOTES)
    yield base
    base.close()


@pytest.fixture
def notes(tmp_path):
    """A copy of the shipped notes that a test may edit."""
    return shutil.copytree(NOTES, tmp_path / "knowledge")


@pytest.fixture
def fresh(tmp_path):
    base = KnowledgeBase.open(tmp_path / "data")
    yield base
    base.close()


# -- the shipped notes -------------------------------------------------------------------------


def test_the_shipped_notes_index_into_short_speakable_passages(fresh):
    stats = fresh.index(NOTES)
    files = sorted(p.name for p in NOTES.glob("*.md"))
    assert 4 <= stats.files == len(files) <= 6
    assert stats.changed and stats.passages >= 20
    with sqlite3.connect(fresh.path) as conn:
        indexed = [row[0] for row in conn.execute("SELECT path FROM knowledge_files ORDER BY 1")]
        rows = conn.execute("SELECT source, heading, text FROM passages").fetchall()
    assert indexed == files
    assert {source for source, _, _ in rows} == set(files)
    for source, heading, text in rows:
        assert heading, source
        assert 1 <= len(text.split()) <= MAX_PASSAGE_WORDS, (source, heading)
        assert not any(mark in text for mark in ("*", "#", "[", "](", "`", "<!--", "|")), text
        assert text.endswith((".", "!", "?")), text


def test_the_notes_agree_with_the_persona():
    text = " ".join(p.read_text() for p in NOTES.glob("*.md"))
    for fact in (
        "founded in 2016 by Theo Marchetti and Amara Lindqvist",
        "a spare room above a bakery",
        "about forty thousand",
        "two hundred and ten",
        "Invoices, Payments and Books",
        "without the jargon",
    ):
        assert fact in text, fact


# -- finding the right passage -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "source", "heading", "fact"),
    [
        ("um so what's like the mission of quillfern", "mission.md", "Our mission", "jargon"),
        ("what are your values", "mission.md", "Our values", "Plain words"),
        ("why is it called quillfern", "mission.md", "Why the name Quillfern", "fern"),
        ("uh when was quillfern founded and who started it", "history.md", "Founding", "2016"),
        ("hi theo how did quillfern get started", "history.md", "Founding", "Bristol"),
        ("where did the company start", "history.md", "Founding", "bakery"),
        ("what was the first product", "history.md", "The first product", "March 2017"),
        ("do you have an office in lisbon", "history.md", "Offices", "Lisbon"),
        ("how much money have you raised", "history.md", "Funding", "Series A"),
        (
            "so yeah um i was wondering like when did you guys like launch the uh mobile app",
            "products.md",
            "The mobile app",
            "2020",
        ),
        ("do you have an app for my phone", "products.md", "The mobile app", "Android"),
        ("how much does the uh the pro plan cost", "products.md", "Pricing tiers", "twenty-nine"),
        ("is there a free plan", "products.md", "Pricing tiers", "Starter is free"),
        ("how much are the card fees", "products.md", "Quillfern Payments", "one point four"),
        ("how fast do i get paid", "products.md", "Quillfern Payments", "two working days"),
        ("can it do my vat return", "products.md", "Quillfern Books", "VAT"),
        ("what are your support hours", "faq.md", "Support hours", "Saturday"),
        ("how do i contact support", "faq.md", "How to reach support", "Help"),
        ("i want a refund", "faq.md", "How to reach support", "cannot see or change"),
        ("where do you keep my data", "faq.md", "Where your data is kept", "United Kingdom"),
        ("can i export my invoices to a spreadsheet", "faq.md", "Exporting your data", "CSV"),
        ("how do i close my account", "faq.md", "Closing an account", "ninety days"),
        ("who's the cto", "people.md", "Amara Lindqvist, co-founder and CTO", "engineering"),
        ("who is the cfo", "people.md", "The leadership team", "Jonah Whitcombe"),
        ("how many businesses use quillfern", "mission.md", "Our customers", "forty thousand"),
    ],
)
def test_a_callers_question_finds_its_passage(kb, said, source, heading, fact):
    found = kb.search(said)
    assert found, said
    best = found[0]
    assert (best.source, best.heading) == (source, heading), found
    assert fact in best.text
    assert len(found) <= 2
    assert all(p.score >= kb.min_score for p in found)
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)


@pytest.mark.parametrize(
    "said",
    [
        "what's the weather on mars",
        "who won the football last night",
        "can you recommend a good pizza place",
        "tell me a joke about penguins",
        "how tall is the eiffel tower",
        "how are you doing today",
        "is it going to rain tomorrow",
        "what time is it",
        "can you sing a song",
        "what is the capital of france",
        "the quick brown fox jumps over the lazy dog",
        "um hi yeah so uh",
        "hello is anyone there can you hear me",
        "who is the president",
    ],
)
def test_a_question_the_notes_do_not_cover_finds_nothing(kb, said):
    assert kb.search(said) == []


def test_limit_and_min_score(kb, tmp_path):
    assert kb.search("support hours", limit=0) == []
    assert len(kb.search("support hours", limit=1)) == 1
    assert kb.search("support hours", limit=10**30)
    lenient = KnowledgeBase(kb.path, min_score=0.0)
    strict = KnowledgeBase(kb.path, min_score=100.0)
    try:
        assert len(lenient.search("what time does support open on saturday", limit=5)) == 5
        assert strict.search("what are your support hours") == []
    finally:
        lenient.close()
        strict.close()


# -- untrusted caller speech -------------------------------------------------------------------


HOSTILE = [
    "",
    " ",
    "\n\t",
    "???",
    '"',
    '""',
    "'",
    '"mission',
    "NEAR(",
    "NEAR(mission founded, 2)",
    "near/3",
    "*",
    "mission*",
    "AND",
    "OR",
    "NOT",
    "mission AND",
    "a OR b NOT c",
    "^mission",
    "-mission",
    "+",
    "(",
    ")",
    "heading:mission",
    "{heading text}: founded",
    "col:*",
    "rank",
    "bm25",
    "\\",
    "%",
    "_",
    "\x00",
    "founded\x00mission",
    "\ud800",
    "e\u0301",
    "\u0301\u0301",
    "日本語の質問",
    "مرحبا",
    "🙂🙂 mission 🙂",
    "ﬁnance",
    "'; DROP TABLE passages; --",
    "SELECT * FROM passages_fts",
    "x" * 100_000,
    "mission " * 20_000,
    " ".join(f"word{i}" for i in range(5000)),
]


@pytest.mark.parametrize("said", HOSTILE)
def test_hostile_input_never_raises(kb, said, caplog):
    found = kb.search(said)
    assert isinstance(found, list) and all(isinstance(p, Passage) for p in found)
    assert len(found) <= 2
    # search() logs a warning when SQLite rejects a query: the query must always be valid.
    assert not [r for r in caplog.records if r.name == "ceoline.trust.knowledge"]


def test_the_query_quotes_every_word_and_drops_fillers():
    assert fts_query("NEAR(mission AND founded*) OR quillfern") == (
        '"near" OR "mission" OR "founded" OR "quillfern"'
    )
    assert fts_query("um, uh, you know, like, what's the...") is None
    assert fts_query("") is None
    assert fts_query("My name is Sarah and I run a bakery") == '"run" OR "bakery"'
    many = fts_query(" ".join(f"word{i}" for i in range(500)))
    assert many.count(" OR ") == MAX_QUERY_TERMS - 1


def test_search_is_one_query_on_the_full_text_index(kb):
    with sqlite3.connect(kb.path) as conn:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + SEARCH_SQL, ('"x"', 2))]
        query = fts_query("what are your support hours")
        rows = conn.execute(SEARCH_SQL, (query, 2)).fetchall()
    # Matches come from the FTS index already in rank order; each passage is then fetched by
    # its primary key. No table scan, no sort of every match.
    scans = [step for step in plan if step.startswith("SCAN ")]
    assert len(scans) == 1 and scans[0].startswith("SCAN passages_fts VIRTUAL TABLE INDEX"), plan
    assert ":M" in scans[0], plan  # the MATCH constraint is handed to FTS5
    assert any(step.startswith("SEARCH p USING INTEGER PRIMARY KEY") for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
    assert [(p.source, p.heading, p.score) for p in kb.search("what are your support hours")] == [
        (source, heading, score) for source, heading, _, score in rows if score >= kb.min_score
    ]


# -- indexing ----------------------------------------------------------------------------------


def test_reindex_only_when_the_notes_change(fresh, notes):
    first = fresh.index(notes)
    assert first.changed
    assert fresh.index(notes) == IndexStats(first.files, first.passages, changed=False)
    assert fresh.index(notes, force=True).changed

    faq = notes / "faq.md"
    faq.write_text(faq.read_text().replace("Saturday from nine to one", "Sunday from ten to two"))
    assert fresh.index(notes).changed
    assert "Sunday" in fresh.search("what are your support hours")[0].text
    assert not fresh.index(notes).changed

    (notes / "awards.md").write_text("# Awards\n\n## Awards\n\nQuillfern won the Ledgerly Prize.\n")
    added = fresh.index(notes)
    assert added.changed and added.files == first.files + 1
    assert fresh.search("did you win the ledgerly prize")[0].source == "awards.md"

    (notes / "awards.md").unlink()
    assert fresh.index(notes).changed
    assert fresh.search("did you win the ledgerly prize") == []


def test_an_index_built_by_other_code_is_rebuilt(tmp_path, notes):
    with KnowledgeBase.open(tmp_path / "data") as base:
        base.index(notes)
    with sqlite3.connect(tmp_path / "data" / "knowledge.db") as conn:
        conn.execute("PRAGMA user_version = 0")
    with KnowledgeBase.open(tmp_path / "data") as base:
        assert base.index(notes).changed
        assert base.search("what are your values")


def test_an_unreadable_note_leaves_the_old_index_answering(fresh, notes):
    before = fresh.index(notes)
    (notes / "mission.md").write_bytes(b"# Mission\n\nWe \xff\xfe love invoices.\n")
    with pytest.raises(ConfigError, match=r"mission\.md: knowledge file is not UTF-8"):
        fresh.index(notes)
    assert fresh.stats() == IndexStats(before.files, before.passages, changed=False)
    assert "jargon" in fresh.search("what is your mission")[0].text


def test_a_failed_write_rolls_back_to_the_old_index(fresh, notes):
    before = fresh.index(notes)
    with sqlite3.connect(fresh.path) as conn:
        # Fails the rewrite after the old passages are already deleted inside the transaction.
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON passages WHEN NEW.text LIKE '%Wellmead%' "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    history = notes / "history.md"
    history.write_text(history.read_text().replace("2016", "2015"))
    with pytest.raises(StoreError, match=r"disk full.*previous index is unchanged"):
        fresh.index(notes)
    assert fresh.stats().passages == before.passages
    assert "2016" in fresh.search("when was quillfern founded")[0].text
    with sqlite3.connect(fresh.path) as conn:
        conn.execute("DROP TRIGGER boom")
    assert fresh.index(notes).changed
    assert "2015" in fresh.search("when was quillfern founded")[0].text


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "knowledge directory not found"),
        (lambda d: d.write_text("x"), "is not a directory"),
        (lambda d: d.mkdir(), "no .md files"),
        (lambda d: (d.mkdir(), (d / "a.md").mkdir()), "a.md: cannot read knowledge file"),
        (
            lambda d: (d.mkdir(), (d / "b.md").write_bytes(b"\xc3\x28")),
            "b.md: knowledge file is not UTF-8",
        ),
    ],
)
def test_bad_notes_are_a_one_line_config_error(fresh, tmp_path, setup, message):
    notes = tmp_path / "notes"
    setup(notes)
    with pytest.raises(ConfigError) as info:
        fresh.index(notes)
    assert message in str(info.value) and str(notes) in str(info.value)
    assert "\n" not in str(info.value)


# -- Markdown to speech ------------------------------------------------------------------------


def test_markdown_becomes_plain_spoken_passages():
    long_section = " ".join(f"Sentence number {i} has exactly seven words." for i in range(30))
    markdown = f"""# Title

<!-- a note for editors, never read aloud -->
Intro with **bold**, *emphasis*, _underscored_, `code` and a [link](https://x.example).

## Lists and tables

- first item
* second item with ![a chart](chart.png)
1. third item.

| Plan | Price |
|------|-------|
| Pro  | 29    |

```
code blocks are not read aloud
```

> A quoted line.

## Long

{long_section}
"""
    passages = split_markdown(markdown)
    by_heading: dict[str, list[str]] = {}
    for heading, text in passages:
        by_heading.setdefault(heading, []).append(text)
    assert by_heading["Title"] == ["Intro with bold, emphasis, underscored, code and a link."]
    assert by_heading["Lists and tables"] == [
        "first item. second item with a chart. third item. Plan, Price. Pro, 29. A quoted line."
    ]
    long_parts = by_heading["Long"]
    assert len(long_parts) == 3 and " ".join(long_parts) == long_section
    assert all(len(p.split()) <= MAX_PASSAGE_WORDS and p.endswith(".") for p in long_parts)


def test_text_before_the_first_heading_is_headed_by_the_file():
    assert split_markdown("Open all week.\n\n## Later\n\nOr not.", "opening hours") == [
        ("opening hours", "Open all week."),
        ("Later", "Or not."),
    ]


def test_a_sentence_longer_than_a_passage_is_cut_at_words():
    markdown = "## Run-on\n\n" + " ".join(["word"] * (MAX_PASSAGE_WORDS * 2 + 5)) + "."
    parts = [text for _, text in split_markdown(markdown)]
    assert [len(p.split()) for p in parts] == [MAX_PASSAGE_WORDS, MAX_PASSAGE_WORDS, 5]


# -- config and CLI ----------------------------------------------------------------------------


def test_open_knowledge_uses_the_config(tmp_path, notes):
    config = parse_config_file(make_config(tmp_path, knowledge={"dir": "knowledge"}))
    assert config.knowledge_dir == notes.resolve()
    assert config.knowledge.max_passages == 2
    with open_knowledge(config) as base:
        assert base.path == tmp_path / "data" / "knowledge.db"
        assert base.min_score == config.knowledge.min_score
        assert base.search("what are your values")[0].heading == "Our values"
    broken = parse_config_file(make_config(tmp_path, knowledge={"dir": "missing"}))
    with pytest.raises(ConfigError, match="knowledge directory not found"):
        open_knowledge(broken)


def test_cli_index_and_search(tmp_path, notes):
    config = make_config(tmp_path, knowledge={"dir": str(notes)})
    first = run_cli("knowledge", "index", config=config)
    assert first.returncode == 0, first.stderr
    assert "5 files" in first.stdout and "index rebuilt" in first.stdout
    again = run_cli("knowledge", "index", config=config)
    assert again.returncode == 0 and "unchanged" in again.stdout
    forced = run_cli("knowledge", "index", "--force", config=config)
    assert "index rebuilt" in forced.stdout

    found = run_cli("knowledge", "search", "uh when was quillfern founded", config=config)
    assert found.returncode == 0, found.stderr
    assert "history.md: Founding" in found.stdout and "2016" in found.stdout
    as_json = run_cli(
        "knowledge",
        "search",
        "what are your support hours",
        "--limit",
        "1",
        "--json",
        config=config,
    )
    data = json.loads(as_json.stdout)
    assert len(data) == 1 and data[0]["heading"] == "Support hours" and data[0]["score"] > 1
    nothing = run_cli("knowledge", "search", "what's the weather on mars", config=config)
    assert nothing.returncode == 0 and "no passage scores at least" in nothing.stdout
    hostile = run_cli("knowledge", "search", 'NEAR(" * AND', "--json", config=config)
    assert hostile.returncode == 0 and json.loads(hostile.stdout) == []


def test_cli_missing_notes_is_one_line(tmp_path):
    config = make_config(tmp_path, knowledge={"dir": str(tmp_path / "nope")})
    one_line_error(run_cli("knowledge", "index", config=config), "knowledge directory not found", 2)


def test_cli_indexes_and_searches_each_lines_notes(tmp_path, notes):
    uk = tmp_path / "knowledge-uk"
    uk.mkdir()
    (uk / "offices.md").write_text(
        "# Offices\n## London office\nThe UK team works from an office in Shoreditch.\n"
        "## Support in the UK\nSupport answers from nine to five.\n"
        "## Prices in the UK\nPlans are billed in pounds sterling.\n"
    )
    lines = [
        {"name": "us", "number": "hotline"},
        {"name": "uk", "number": "hotline-uk", "knowledge": str(uk)},
    ]
    # Three passages give BM25 little to weigh a word by: a low bar, for this search only.
    config = make_config(tmp_path, knowledge={"dir": str(notes), "min_score": 0.1}, lines=lines)
    indexed = run_cli("knowledge", "index", config=config)
    assert indexed.returncode == 0, indexed.stderr
    assert f"5 files, 24 passages in {notes}" in indexed.stdout
    assert f"1 files, 3 passages in {uk}" in indexed.stdout
    assert (tmp_path / "data" / "knowledge-uk.db").is_file()
    found = run_cli("knowledge", "search", "where is your office", "--line", "uk", config=config)
    assert "offices.md: London office" in found.stdout, found.stdout
    elsewhere = run_cli("knowledge", "search", "shoreditch", "--line", "us", config=config)
    assert "London office" not in elsewhere.stdout
    one_line_error(
        run_cli("knowledge", "search", "x", "--line", "se", config=config), "--line 'se'", 2
    )


def test_the_swedish_notes_index_and_answer_in_swedish(tmp_path):
    with KnowledgeBase.open(tmp_path) as kb:
        stats = kb.index(ROOT / "configs" / "knowledge-se")
        assert (stats.files, stats.passages) == (3, 8)
        # The index tokenizes å, ä and ö as letters of the words they are in.
        (best, *_) = kb.search("Vilka öppettider har supporten?", limit=1)
        assert best.heading == "Supportens öppettider"
        (best, *_) = kb.search("Vad kostar företagspaketet?", limit=1)
        assert best.heading == "Priser i Sverige"
