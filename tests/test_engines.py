"""The engines: the models loaded once, and each line's own Whisper and voice beside them."""

import dataclasses
import shutil

import numpy as np
import pytest

from ceoline.config import parse_config_file
from ceoline.errors import ModelError
from ceoline.voice.audio import SAMPLE_RATE
from ceoline.voice.espeak import EspeakSynthesizer

from .conftest import make_config

pytestmark = pytest.mark.models


def test_an_espeak_voice_speaks_at_the_loops_rate_and_a_missing_one_is_refused():
    speech = EspeakSynthesizer("sv").synthesize("Hej, det här är en AI.")
    assert speech.pcm.dtype == np.int16 and 0.5 * SAMPLE_RATE < len(speech.pcm) < 4 * SAMPLE_RATE
    with pytest.raises(ModelError, match=r"espeak-ng voice 'xx-nowhere' does not speak"):
        EspeakSynthesizer("xx-nowhere")


def test_each_line_is_heard_and_spoken_with_its_own_models(tmp_path):
    from ceoline.engines import Engines, LineStages
    from ceoline.locator import locate

    # A Piper voice placed in models/ for a line: the packaged one under another name, the
    # shape any Piper voice (sv_SE included) has.
    shared = parse_config_file(make_config(tmp_path))
    piper = locate("tts", shared.models.tts, shared.models_dir).path
    placed = tmp_path / "models"
    placed.mkdir()
    shutil.copy(piper, placed / "sv_SE-test-medium.onnx")
    shutil.copy(f"{piper}.json", placed / "sv_SE-test-medium.onnx.json")
    lines = [
        {"name": "us", "number": "hotline"},
        {"name": "uk", "number": "hotline-uk", "stt": "base", "voice": "espeak-ng:en-gb"},
        {"name": "se", "number": "hotline-se", "voice": str(placed / "sv_SE-test-medium.onnx")},
    ]
    config = parse_config_file(make_config(tmp_path, lines=lines))
    loaded = Engines.load(config, warm=False)
    us, uk, se = (loaded.on_line(name) for name in ("us", "uk", "se"))
    assert us.synthesizer is loaded.synthesizer and us.transcriber.transcriber is loaded.transcriber
    assert isinstance(uk.synthesizer, EspeakSynthesizer) and uk.synthesizer.voice == "en-gb"
    assert uk.transcriber.transcriber.multilingual and not us.transcriber.transcriber.multilingual
    assert se.synthesizer not in (loaded.synthesizer, uk.synthesizer)
    # Each voice says the line's greeting; the cache keeps them apart.
    said = {line.line.name: line.cached_speech(line.persona.greeting) for line in (us, uk, se)}
    assert not np.array_equal(said["us"], said["uk"])
    heard = uk.transcriber.transcribe(said["uk"]).text.lower()
    assert "transcribed" in heard and "version" in heard, heard
    # A line in another language than its Whisper hears is refused at start.
    swedish = dataclasses.replace(uk.line, language="sv", stt=config.models.stt)
    with pytest.raises(ModelError, match=r"line 'uk' speaks 'sv' but Whisper 'embedded' hears"):
        dataclasses.replace(loaded, lines=(swedish,))._load_line_models({})
    assert LineStages(loaded, se.line).config is config


def test_a_swedish_call_is_heard_and_answered_in_swedish(tmp_path):
    """The Swedish line as shipped (Whisper base told "sv", espeak-ng's Swedish voice, the
    Swedish notes), called by espeak-ng: a request for a person is heard through the Swedish
    word rules, the message is taken and kept, every line is Swedish and no model replies."""
    import asyncio

    from ceoline.engines import Engines
    from ceoline.store import Store
    from ceoline.trust.languages import SWEDISH
    from ceoline.voice import espeak
    from ceoline.voice.simulate import ScriptedCaller, run_call

    from .conftest import ROOT

    se = {
        "name": "se",
        "number": "hotline-se",
        "persona": str(ROOT / "configs" / "persona-se.toml"),
        "knowledge": str(ROOT / "configs" / "knowledge-se"),
        "language": "sv",
        "stt": "base",
        "voice": "espeak-ng:sv",
    }
    config = parse_config_file(make_config(tmp_path, lines=[se]))
    stages = Engines.load(config, warm=False).on_line("se")
    assert stages.language is SWEDISH and not stages.model_replies
    assert stages.turn_reader is None
    pad = np.zeros(SAMPLE_RATE // 4, dtype=np.int16)
    said = ["Koppla mig till kundtjänst.", "Fakturorna laddar för långsamt."]
    caller = ScriptedCaller([np.concatenate([pad, espeak.speak(s, "sv"), pad]) for s in said])
    store = Store.open(config.data_dir)
    try:
        result = asyncio.run(run_call(stages, caller, store, greet=False))
        call = store.get_call(result.call_id)
    finally:
        store.close()
    bot = [t["text"] for t in call["turns"] if t["role"] == "bot"]
    heard = [t["text"] for t in call["turns"] if t["role"] == "caller"]
    assert bot == [SWEDISH.lines.take_message, SWEDISH.lines.message_taken], (heard, bot)
    assert call["line"] == "se"
    assert [e["reason"] for e in call["escalations"]] == ["caller_request"]
    assert call["callback_requests"][0]["message"] == heard[1]
    assert not any(t["timings"].get("llm_first_token") for t in call["turns"])
