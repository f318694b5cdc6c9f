import pytest

from ceoline.errors import ConfigError
from ceoline.persona.profile import load_persona


def test_demo_persona_greeting_discloses_ai_and_transcription(persona):
    assert "AI" in persona.greeting
    assert "transcribed" in persona.greeting
    assert persona.name in persona.greeting and persona.company in persona.greeting


def test_system_prompt_carries_facts(persona):
    prompt = persona.system_prompt()
    for fact in persona.facts:
        assert fact in prompt
    assert "AI" in prompt


def test_disclosure_cannot_be_edited_away(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "A"\ncompany = "B"\nrole = "CEO"\ntone = "calm"\n'
        'opening_line = "I am a real human."\ngoodbye_line = "Bye"\nfacts = ["x"]\n'
    )
    assert load_persona(path).greeting.startswith("Hi, this is an AI version of A")


_MINIMAL = (
    'name = "A"\ncompany = "B"\nrole = "r"\ntone = "t"\nopening_line = "o"\n'
    'goodbye_line = "g"\nfacts = ["f"]\n'
)


def test_acknowledgements_are_read_by_kind_and_may_be_left_out(tmp_path, persona):
    path = tmp_path / "p.toml"
    path.write_text(_MINIMAL + '[acknowledgements]\npraise = [" Thanks! "]\ncomplaint = []\n')
    loaded = load_persona(path)
    assert loaded.acknowledgements_for("praise") == ("Thanks!",)
    assert loaded.acknowledgements_for("complaint") == ()
    path.write_text(_MINIMAL)
    assert load_persona(path).acknowledgements == ()
    # The demo persona acknowledges every kind.
    assert all(persona.acknowledgements_for(k) for k in ("complaint", "suggestion", "praise"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "A"\n', "persona key 'company' is missing"),
        (
            'name = ""\ncompany = "B"\nrole = "r"\ntone = "t"\nopening_line = "o"\n'
            'goodbye_line = "g"\nfacts = ["f"]\n',
            "'name' must be a non-empty string",
        ),
        (
            'name = "A"\ncompany = "B"\nrole = "r"\ntone = "t"\nopening_line = "o"\n'
            'goodbye_line = "g"\nfacts = []\n',
            "'facts' must be a non-empty list",
        ),
        ('nmae = "A"\n', "unknown persona key 'nmae'"),
        (
            _MINIMAL + '[acknowledgements]\nanger = ["Sorry."]\n',
            "unknown kind 'anger' in \\[acknowledgements\\]; allowed kinds: complaint",
        ),
        (
            _MINIMAL + '[acknowledgements]\ncomplaint = "Sorry."\n',
            "'acknowledgements.complaint' must be a list of non-empty strings",
        ),
        (_MINIMAL + 'acknowledgements = ["Sorry."]\n', "'acknowledgements' must be a table"),
        ("name = \n", "invalid persona TOML"),
    ],
)
def test_bad_persona_files(tmp_path, text, message):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_persona(path)


def test_missing_persona_file(tmp_path):
    with pytest.raises(ConfigError, match="persona file not found"):
        load_persona(tmp_path / "none.toml")


def test_the_swedish_persona_discloses_in_swedish():
    import dataclasses

    from ..conftest import ROOT

    swedish = dataclasses.replace(load_persona(ROOT / "configs" / "persona-se.toml"), language="sv")
    assert swedish.greeting == (
        "Hej, det här är en AI-version av Theo Marchetti, vd på Quillfern. Samtalet "
        "transkriberas. Vad har du på hjärtat?"
    )
    assert swedish.acknowledgements_for("complaint")[0] == "Förlåt, det är vårt ansvar."
