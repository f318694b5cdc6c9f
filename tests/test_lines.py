from types import SimpleNamespace

import pytest

from ceoline.config import parse_config_file
from ceoline.engines import LineStages
from ceoline.errors import ConfigError
from ceoline.lines import (
    DEFAULT_LINE,
    Switchboard,
    load_lines,
    request_uri,
    user_part,
)

from .conftest import ROOT, make_config


@pytest.mark.parametrize(
    "uri, user",
    [
        ("sip:hotline-se@10.0.0.5:5060;transport=udp", "hotline-se"),
        ('"Ann" <sip:+46812345678@trunk.example;user=phone>', "+46812345678"),
        ("sips:hotline@box", "hotline"),
        ("tel:+15550100;phone-context=example", "+15550100"),
        ("sip:%2B46812345678@trunk", "+46812345678"),
        ("tel:+46-8-123(45)678", "+46812345678"),
        ("sip:hotline-uk@box", "hotline-uk"),
        ("sip:10.0.0.5:5060", None),
        ("mailto:a@b", None),
        ("", None),
    ],
)
def test_the_user_part_of_a_uri(uri, user):
    assert user_part(uri) == user


def test_the_request_uri_is_read_from_the_request_line():
    invite = "INVITE sip:hotline-uk@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n"
    assert request_uri(invite) == "sip:hotline-uk@127.0.0.1:5060"
    assert request_uri("SIP/2.0 200 OK\r\n") is None
    assert request_uri("garbage") is None


def _line(name, numbers=()):
    return SimpleNamespace(
        name=name, numbers=numbers, answers_any_number=lambda: not numbers, handoff_uri=""
    )


def test_a_single_line_without_numbers_answers_every_number():
    main = _line(DEFAULT_LINE)
    board = Switchboard((main,))
    assert board.route("hotline", None) is main
    assert board.route("anything", "else") is main
    assert board.route(None, None) is main


def test_calls_are_routed_on_the_request_uri_then_the_to_header():
    us, uk = _line("us", ("hotline",)), _line("uk", ("hotline-uk", "+44-20-7946-0000"))
    board = Switchboard((us, uk))
    assert board.route("hotline", None) is us
    assert board.route("hotline-uk", "hotline") is uk  # the Request-URI decides
    assert board.route("box", "+442079460000") is uk  # a trunk that rewrote the Request-URI
    assert board.route("hotline-se", "hotline-se") is None
    assert board.route(None, None) is None
    assert board.named(None) is us and board.named("uk") is uk
    with pytest.raises(ConfigError, match=r"no line 'se'; this config's lines are us, uk"):
        board.named("se")


def _uk_persona(tmp_path):
    text = (ROOT / "configs" / "persona.toml").read_text()
    uk = tmp_path / "persona-uk.toml"
    uk.write_text(text.replace('opening_line = "', 'opening_line = "You are through to the UK. '))
    return uk


def test_each_line_loads_its_persona_and_notes(tmp_path):
    notes = tmp_path / "knowledge-uk"
    notes.mkdir()
    (notes / "offices.md").write_text("# London office\nThe UK team works from Shoreditch.\n")
    config = parse_config_file(
        make_config(
            tmp_path,
            handoff={"uri": "sip:support@pbx"},
            lines=[
                {"name": "us", "number": "hotline"},
                {
                    "name": "uk",
                    "number": "hotline-uk",
                    "persona": str(_uk_persona(tmp_path)),
                    "knowledge": str(notes),
                    "handoff_uri": "sip:support-uk@pbx",
                },
                {"name": "ca", "number": "hotline-ca"},
            ],
        )
    )
    us, uk, ca = load_lines(config)
    try:
        assert uk.persona.greeting.endswith("You are through to the UK. What's on your mind?")
        assert uk.persona.greeting.startswith("Hi, this is an AI version of Theo Marchetti")
        assert not us.persona.opening_line.startswith("You are through")
        # Each set of notes is its own index; lines with the same notes share one.
        assert [p.heading for p in uk.knowledge.passages()] == ["London office"]
        assert len(us.knowledge.passages()) > 10 and ca.knowledge is us.knowledge
        assert (config.data_dir / "knowledge.db").is_file()
        assert (config.data_dir / "knowledge-uk.db").is_file()
        assert "Shoreditch" in (uk.hotwords or "") and "Shoreditch" not in (us.hotwords or "")
        assert (us.handoff_uri, uk.handoff_uri) == ("sip:support@pbx", "sip:support-uk@pbx")
        # A call sees the shared config with its line's handoff target in it.
        engines = SimpleNamespace(config=config)
        assert LineStages(engines, uk).config.handoff.uri == "sip:support-uk@pbx"
        assert LineStages(engines, us).config is config
    finally:
        us.knowledge.close()
        uk.knowledge.close()


def test_a_line_whose_persona_is_missing_is_named(tmp_path):
    config = parse_config_file(
        make_config(
            tmp_path,
            lines=[{"name": "se", "number": "hotline-se", "persona": "nowhere.toml"}],
        )
    )
    with pytest.raises(ConfigError, match=r"^line 'se': .*nowhere.toml: persona file not found"):
        load_lines(config)


def test_without_lines_there_is_one_line_on_every_number(tmp_path):
    (line,) = load_lines(parse_config_file(make_config(tmp_path)))
    try:
        assert line.name == DEFAULT_LINE and line.answers_any_number()
        assert "Quillfern" in (line.hotwords or "")
    finally:
        line.knowledge.close()


def test_the_uk_line_reads_its_notes_with_the_companys_and_speaks_british_english(tmp_path):
    """configs/markets.toml's UK line as shipped: the UK notes on top of the company's, the
    UK disclosure, and Whisper told plain English."""
    from ceoline.trust.languages import ENGLISH_GB

    config = parse_config_file(ROOT / "configs" / "markets.toml")
    config = parse_config_file(
        make_config(tmp_path, lines=[_as_table(line) for line in config.lines])
    )
    us, uk, se = load_lines(config)
    try:
        sources = [p.source.split("/")[0] for p in uk.knowledge.passages()]
        assert set(sources) == {"knowledge", "knowledge-uk"}
        # The UK's own notes first: their names lead what Whisper is told to expect.
        assert sources[0] == "knowledge-uk" and "HMRC Making Tax" in (uk.hotwords or "")
        assert "Direct Debit" in (uk.hotwords or "")
        assert (config.data_dir / "knowledge-uk.db").is_file()
        assert {p.source for p in us.knowledge.passages()}.isdisjoint(
            {p.source for p in uk.knowledge.passages() if p.source.startswith("knowledge-uk/")}
        )
        assert uk.knowledge.search("Who regulates Quillfern Payments?")[0].source == (
            "knowledge-uk/uk.md"
        )
        assert uk.knowledge.search("When was Quillfern founded?")[0].source == (
            "knowledge/history.md"
        )
        assert uk.persona.greeting.startswith("Hello, you're speaking with an AI version of Theo")
        assert "transcribed and kept for our product teams" in uk.persona.greeting
        assert us.persona.greeting.startswith("Hi, this is an AI version of Theo")
        engines = SimpleNamespace(config=config, transcribers={}, transcriber=object())
        stages = LineStages(engines, uk)
        assert stages.language is ENGLISH_GB and stages.model_replies
        assert stages.transcriber.language == "en"
        assert (uk.handoff_hours, uk.timezone) == ("mon-fri 09:00-17:00", "Europe/London")
    finally:
        for line in (us, uk, se):
            line.knowledge.close()


def _as_table(line) -> dict:
    """A shipped [[lines]] entry with its files made absolute, for a config in tmp_path."""
    import dataclasses

    table = {k: v for k, v in dataclasses.asdict(line).items() if v not in ("", (), False)}
    for key in ("persona", "knowledge"):
        if key in table:
            table[key] = str(ROOT / "configs" / table[key])
    table["dids"] = list(line.dids)
    return table
