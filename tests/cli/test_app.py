"""The CLI as an admin meets it: help everywhere, one-line errors, nothing half-written."""

import json
import sqlite3

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from ceoline.cli import app
from ceoline.voice.audio import SAMPLE_RATE, write_wav

from ..cli_support import one_line_error, run_cli
from ..conftest import ROOT, make_config


def walk(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))


def test_every_command_has_help():
    runner = CliRunner()
    root = typer.main.get_command(app)
    paths = [p for p, _ in walk(root)]
    assert ("call",) in paths and ("calls", "show") in paths and ("bench",) in paths
    for path, command in walk(root):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert command.help, f"{' '.join(path)} has no help text"


def stored_calls(tmp_path) -> int:
    db = tmp_path / "data" / "ceoline.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


@pytest.mark.parametrize(
    ("setup", "pattern"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00garbage" * 50), "not a readable WAV"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: write_wav(p, np.zeros(SAMPLE_RATE * 600, np.int16)), "lasts 600.0 s"),
    ],
)
def test_bad_caller_audio(tmp_path, setup, pattern):
    config = make_config(tmp_path)
    wav = tmp_path / "in.wav"
    setup(wav)
    one_line_error(run_cli("call", wav, config=config), pattern, 4)
    assert stored_calls(tmp_path) == 0


def test_broken_config_is_one_line(tmp_path):
    config = make_config(tmp_path, vad={"aggressiveness": 9})
    one_line_error(
        run_cli("call", ROOT / "tests/data/question-mission.wav", config=config),
        "vad.aggressiveness = 9",
        2,
    )
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[store\n")
    one_line_error(run_cli("doctor", config=bad_toml), "invalid TOML", 2)
    one_line_error(
        run_cli("calls", "list", env={"CEOLINE_CONFIG": str(tmp_path / "none.toml")}),
        "config file not found",
        2,
    )
    assert stored_calls(tmp_path) == 0


def test_missing_model_is_one_line(tmp_path):
    config = make_config(tmp_path, models={"llm": "llama-70b.gguf"})
    one_line_error(
        run_cli("call", ROOT / "tests/data/question-mission.wav", config=config),
        "LLM model file not found",
        3,
    )
    assert stored_calls(tmp_path) == 0


def test_unknown_call_id(tmp_path):
    one_line_error(
        run_cli("calls", "show", "nope", config=make_config(tmp_path)), "no call with id 'nope'", 5
    )


def test_silence_is_a_clean_no_speech_call_on_the_line_called(tmp_path):
    persona = (ROOT / "configs" / "persona.toml").read_text()
    uk = tmp_path / "uk.toml"
    opening = 'opening_line = "'
    uk.write_text(persona.replace(opening, f"{opening}You are through to the UK. ", 1))
    config = make_config(
        tmp_path,
        lines=[
            {"name": "us", "number": "hotline"},
            {"name": "uk", "number": "hotline-uk", "persona": str(uk)},
        ],
    )
    wav = tmp_path / "quiet.wav"
    write_wav(wav, np.zeros(SAMPLE_RATE * 2, np.int16))
    result = run_cli("call", wav, "--line", "uk", "--json", config=config)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [t["role"] for t in data["turns"]] == ["bot"]  # the greeting only
    assert "You are through to the UK." in data["turns"][0]["text"]
    shown = json.loads(run_cli("calls", "show", data["call_id"], "--json", config=config).stdout)
    assert shown["end_reason"] == "caller_hangup" and len(shown["turns"]) == 1
    assert shown["line"] == "uk"
    listing = run_cli("calls", "list", config=config)
    assert data["call_id"] in listing.stdout and " uk " in listing.stdout
    assert data["call_id"] in run_cli("calls", "list", "--line", "uk", config=config).stdout
    assert data["call_id"] not in run_cli("calls", "list", "--line", "us", config=config).stdout
    for command in (("calls", "list"), ("call", wav)):
        refused = run_cli(*command, "--line", "se", config=config)
        one_line_error(refused, "--line 'se': this config's lines are us, uk", 2)


def test_say_and_transcribe_round_trip(tmp_path):
    config = make_config(tmp_path)
    out = tmp_path / "said.wav"
    said = run_cli(
        "say", "Please add a dark mode to the invoices screen.", "--out", out, config=config
    )
    assert said.returncode == 0, said.stderr
    heard = run_cli("transcribe", out, "--json", config=config)
    text = json.loads(heard.stdout)["text"].lower()
    assert "dark mode" in text and "screen" in text


def test_doctor_passes_on_the_shipped_setup(tmp_path):
    from ..sip_support import free_port

    # A free port: a `make run` on this machine must not fail the test.
    result = run_cli("doctor", config=make_config(tmp_path, sip={"port": free_port()}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sha256 ok" in result.stdout and "FAIL" not in result.stdout
    # Each engine ran once on this CPU, and the llama.cpp build fits it.
    for name in ("engine llm", "engine stt", "engine tts", "llama build"):
        assert f"ok   {name}" in result.stdout, result.stdout


def test_doctor_checks_the_shared_service_and_the_merge(tmp_path):
    from ..sip_support import free_port

    config = make_config(
        tmp_path, sip={"port": free_port()}, inference={"mode": "shared", "port": free_port()}
    )
    result = run_cli("doctor", "--no-engines", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   merged fit    persona-merged.gguf = " in result.stdout, result.stdout
    assert "ok   inference     shared: llama-server" in result.stdout, result.stdout
    (tmp_path / "missing").mkdir()
    missing = make_config(
        tmp_path / "missing", inference={"mode": "shared", "server": "no-such-server"}
    )
    result = run_cli("doctor", "--no-engines", config=missing)
    assert result.returncode != 0
    assert "FAIL inference" in result.stdout and "make install" in result.stdout


def test_doctor_catches_a_tampered_model(tmp_path):
    import shutil

    from ceoline.locator import locate

    voice = locate("tts", "embedded", ROOT / "models")
    (tmp_path / "models").mkdir()
    for f in voice.files:
        shutil.copy(f, tmp_path / "models" / f.name)
    config = make_config(
        tmp_path,
        models={
            "dir": str(tmp_path / "models"),
            "manifest": str(tmp_path / "manifest.toml"),
            "tts": voice.path.name,
            "adapter": "",
            "turn_reader": "",
        },
    )
    assert run_cli("doctor", "--pin", config=config).returncode == 0
    json_file = tmp_path / "models" / f"{voice.path.name}.json"
    json_file.write_text(json_file.read_text().replace('"quality"', '"qualitY"'))
    result = run_cli("doctor", config=config)
    assert result.returncode == 1 and "sha256 mismatch" in result.stdout
    one_line_error(
        run_cli("call", ROOT / "tests/data/question-mission.wav", config=config),
        "sha256 does not match",
        3,
    )
    assert stored_calls(tmp_path) == 0


def test_doctor_reports_a_taken_sip_port(tmp_path):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run_cli("doctor", "--no-engines", config=make_config(tmp_path, sip={"port": port}))
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if " sip " in x)
    assert line.startswith("FAIL") and f"127.0.0.1:{port}" in line


def test_calls_show_never_replays_control_characters_from_the_wire(tmp_path):
    from ceoline.store import Store, TurnRecord

    config = make_config(tmp_path)
    store = Store.open(tmp_path / "data")
    evil = '"\x1b[2J\x1b]0;pwned\x07" <sip:x@y>'
    call_id = store.create_call("sip", "x@y", "Theo", sip_call_id="c1", caller_uri=evil)
    store.add_turn(call_id, TurnRecord("caller", "hi\x1b[31m red", 0, 10, {}))
    store.close()
    result = run_cli("calls", "show", call_id, config=config)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\x1b[2J" in result.stdout and "hi\\x1b[31m red" in result.stdout
    assert result.stdout.startswith(f"call {call_id}  sip  line main (en)  caller=x@y")


def test_doctor_names_a_store_past_retention_and_calls_left_by_a_crash(tmp_path):
    from ceoline.store import Store

    store = Store.open(tmp_path / "data")
    crashed = store.create_call("sip", "1001@pbx", "Theo")
    old = store.create_call("sip", "1002@pbx", "Theo")
    store.end_call(old, "caller_hangup", 3.0)
    with store.writing() as db:
        db.execute("UPDATE calls SET owner = NULL WHERE id = ?", [crashed])
        db.execute(
            "UPDATE calls SET started_at = '2020-01-01T00:00:00.000+00:00' WHERE id = ?", [old]
        )
    store.close()
    result = run_cli("doctor", "--no-engines", config=make_config(tmp_path))
    assert result.returncode == 1, result.stdout
    assert "1 left open by a crash" in result.stdout
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and "retention" in fails[0] and "ceoline purge" in fails[0], fails
