import dataclasses
import typing
from pathlib import Path

import pytest

from ceoline.config import CONFIG_ENV, Config, config_with, load_config, parse_config_file
from ceoline.errors import ConfigError

from .conftest import REPO_CONFIG


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def _public(config: Config) -> dict:
    data = dataclasses.asdict(config)
    data.pop("base_dir")
    data.pop("source")
    return data


def test_repo_config_states_every_default():
    assert _public(parse_config_file(REPO_CONFIG)) == _public(Config())


def _documented(text: str, table: object, prefix: str) -> None:
    for key in dataclasses.fields(table):
        value = getattr(table, key.name)
        if dataclasses.is_dataclass(value):
            assert f"[{prefix}{key.name}]" in text
            _documented(text, value, f"{prefix}{key.name}.")
        else:
            assert f"\n{key.name} = " in text, f"{prefix}{key.name} not in the file"


def test_repo_config_documents_every_key():
    text = REPO_CONFIG.read_text()
    config = Config()
    hints = typing.get_type_hints(Config)
    for section in dataclasses.fields(Config):
        if section.metadata.get("internal"):
            continue
        if isinstance(getattr(config, section.name), tuple):
            # An array of tables, empty by default: documented as a commented-out example.
            (table,) = {a for a in typing.get_args(hints[section.name]) if a is not Ellipsis}
            assert f"\n# [[{section.name}]]\n" in text
            for key in dataclasses.fields(table):
                assert f"\n# {key.name} = " in text, f"{section.name}.{key.name} not in the file"
            continue
        assert f"[{section.name}]" in text
        _documented(text, getattr(config, section.name), f"{section.name}.")


def test_relative_paths_resolve_against_config_dir(tmp_path):
    config = parse_config_file(write(tmp_path, '[store]\ndata_dir = "d"\n'))
    assert config.data_dir == (tmp_path / "d").resolve()


def test_unknown_key_names_key_and_suggests(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'vad.agressiveness'.*'aggressiveness'"):
        parse_config_file(write(tmp_path, "[vad]\nagressiveness = 2\n"))


def test_a_removed_key_says_what_replaced_it(tmp_path):
    with pytest.raises(ConfigError, match=r"'bargein.echo_margin_db' is no longer.*\[echo\]"):
        parse_config_file(write(tmp_path, "[bargein]\necho_margin_db = 10.0\n"))


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'vadd'"):
        parse_config_file(write(tmp_path, "[vadd]\nx = 1\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[runtime]\ndevice = "tpu"\n',
            r"runtime.device = 'tpu' is not allowed; choose one of 'cpu', 'cuda'",
        ),
        ("[vad]\naggressiveness = 7\n", r"vad.aggressiveness = 7 .*one of 0, 1, 2, 3"),
        (
            '[vad]\nend_of_turn_ms = "fast"\n',
            r"vad.end_of_turn_ms = 'fast' is not valid; expected an integer",
        ),
        (
            "[vad]\nend_of_turn_ms = 5\n",
            r"vad.end_of_turn_ms = 5 is out of range; allowed 100 to 5000",
        ),
        ("[llm]\ntemperature = true\n", r"llm.temperature = True is not valid; expected a number"),
        ("vad = 3\n", r"\[vad\] must be a table"),
        (
            '[models]\nadapter_base_sha256 = "b179c9"\n',
            r"models.adapter_base_sha256 must be the 64-hex sha256 of the base GGUF",
        ),
        ("[persona.train]\nrank = 0\n", r"persona.train.rank = 0 is out of range"),
        ('[persona.train]\ntarget_modules = "q_proj"\n', r"persona.train.target_modules"),
    ],
)
def test_bad_values_name_key_and_allowed_values(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        parse_config_file(write(tmp_path, text))


def test_integer_accepted_for_float(tmp_path):
    config = parse_config_file(write(tmp_path, "[llm]\ntemperature = 1\n"))
    assert config.llm.temperature == 1.0


def test_invalid_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        parse_config_file(write(tmp_path, "[vad\n"))
    assert "invalid TOML" in str(info.value) and "\n" not in str(info.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        parse_config_file(tmp_path / "nope.toml")
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_config_file(path)


def test_env_var_and_explicit_path_order(tmp_path, monkeypatch):
    env_file = write(tmp_path, '[runtime]\ndevice = "cuda"\n')
    monkeypatch.setenv(CONFIG_ENV, str(env_file))
    assert load_config().runtime.device == "cuda"
    other = tmp_path / "other.toml"
    other.write_text("")
    assert load_config(other).runtime.device == "cpu"


def test_no_config_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no config file found"):
        load_config()


def test_config_is_frozen_and_config_with_copies():
    config = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.vad.aggressiveness = 3  # type: ignore[misc]
    changed = config_with(config, vad={"end_of_turn_ms": 300})
    assert changed.vad.end_of_turn_ms == 300 and config.vad.end_of_turn_ms == 500


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sip]\naddress = "0.0.0.0"\n', "any interface"),
        ('[sip]\naddress = "pbx.local"\n', "not an IP address"),
        ('[sip]\nmedia_address = "::1"\n', "IPv6"),
        ('[sip]\nallow = ["10.0.0.0/33"]\n', "not an address or CIDR"),
        ('[sip]\nallow = "10.0.0.0/8"\n', "expected a list of strings"),
        ("[sip]\ncodecs = []\n", "codecs is empty"),
        ('[sip]\ncodecs = ["G722"]\n', "NAME/RATE"),
        ("[sip]\nudp = false\ntcp = false\n", "enable at least one"),
        ("[sip]\nmax_calls = 10\nrtp_port_range = 10\n", "at least 20"),
        ('[sip]\nreject = "drop"\n', "choose one of"),
        ('[sip.registration]\nregistrar = "pbx.local"\n', "must be a SIP URI"),
        ('[sip.registration]\nregistrar = "sip:pbx.local"\n', "needs one"),
        ('[sip.registration]\npassword = "hunter2"\n', "secrets never go in the config"),
    ],
)
def test_sip_section_rejects_unsafe_or_broken_values(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        parse_config_file(write(tmp_path, text))


def test_sip_section_accepts_a_trunk_setup(tmp_path):
    config = parse_config_file(
        write(
            tmp_path,
            '[sip]\naddress = "10.20.0.5"\nmedia_address = "10.30.0.5"\n'
            'allow = ["10.20.0.0/24"]\n[sip.registration]\nregistrar = "sip:10.20.0.1"\n'
            'user = "ceo"\n',
        )
    )
    assert config.sip.rtp_address == "10.30.0.5"
    assert config.sip.allow == ("10.20.0.0/24",)
    assert config.sip.registration.user == "ceo"


def test_production_example_config_is_valid():
    config = parse_config_file(REPO_CONFIG.parent / "production.toml")
    assert not config.sip.address.startswith("127.")
    assert config.runtime.device == "cuda"


def test_stage_threads_default_to_half_the_usable_cores(monkeypatch):
    import ceoline.config as config_module
    from ceoline.config import RuntimeConfig

    for cores, each in [(1, 1), (2, 1), (3, 1), (16, 8)]:
        monkeypatch.setattr(config_module, "usable_cpus", lambda cores=cores: cores)
        runtime = RuntimeConfig()
        assert (runtime.stage_threads, runtime.all_threads) == (each, cores)
    assert RuntimeConfig(threads=3).stage_threads == RuntimeConfig(threads=3).all_threads == 3


def test_lines_are_read_with_their_numbers(tmp_path):
    config = parse_config_file(
        write(
            tmp_path,
            '[[lines]]\nname = "us"\nnumber = "hotline"\n\n'
            '[[lines]]\nname = "uk"\nnumber = "hotline-uk"\ndids = ["+442079460000"]\n'
            'persona = "persona-uk.toml"\nhandoff_uri = "sip:support-uk@pbx"\n',
        )
    )
    assert [(line.name, line.number, line.dids) for line in config.lines] == [
        ("us", "hotline", ()),
        ("uk", "hotline-uk", ("+442079460000",)),
    ]
    assert config.lines[1].language == "en"


@pytest.mark.parametrize(
    "lines, message",
    [
        ('name = "us"\n', r"\[\[lines\]\] 1 \(us\): give number"),
        ('name = "US line"\nnumber = "a"\n', r"\[\[lines\]\] 1 needs name"),
        ('name = "us"\nnumber = "sip:a@b"\n', r"'sip:a@b' is not a SIP user part"),
        ('name = "us"\nnumber = "a"\nlanguage = "xx"\n', r"lines\[0\]\.language = 'xx'"),
        ('name = "us"\nnumber = "a"\nhandoff_uri = "support"\n', r"handoff_uri 'support'"),
    ],
)
def test_a_bad_line_is_refused_with_what_to_fix(tmp_path, lines, message):
    with pytest.raises(ConfigError, match=message):
        parse_config_file(write(tmp_path, f"[[lines]]\n{lines}"))


def test_the_reply_models_languages_are_ones_a_line_may_speak(tmp_path):
    config = parse_config_file(write(tmp_path, '[[lines]]\nname = "se"\nnumber = "a"\n'
                                                'language = "sv"\n'))  # fmt: skip
    assert config.lines[0].language == "sv" and config.llm.languages == ("en",)
    with pytest.raises(ConfigError, match=r"\[llm\] languages has 'de'; a line may speak only"):
        parse_config_file(write(tmp_path, '[llm]\nlanguages = ["en", "de"]\n'))


def test_two_lines_cannot_share_a_name_or_a_number(tmp_path):
    twice = '[[lines]]\nname = "us"\nnumber = "a"\n\n[[lines]]\nname = "us"\nnumber = "b"\n'
    with pytest.raises(ConfigError, match=r"\[\[lines\]\] 2: the name 'us' is used twice"):
        parse_config_file(write(tmp_path, twice))
    shared = '[[lines]]\nname = "us"\nnumber = "a"\n\n[[lines]]\nname = "uk"\ndids = ["a"]\n'
    with pytest.raises(ConfigError, match=r"'a' is already line 'us''s"):
        parse_config_file(write(tmp_path, shared))
