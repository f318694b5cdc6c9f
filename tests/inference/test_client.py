"""The shared service for real: llama-server on loopback with the merged persona model, read
by the client a call uses, against the local model the same process loads."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
import urllib.request

import pytest

from ceoline.config import parse_config_file
from ceoline.engines import locate_all, reply_model, start_inference
from ceoline.inference.client import ServiceUnavailable, SharedLanguageModel
from ceoline.locator import HashCache
from ceoline.voice.llm import Message

from ..conftest import make_config
from ..sip_support import free_port

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inference")
    config = parse_config_file(
        make_config(tmp, inference={"mode": "shared", "port": free_port(), "parallel": 2})
    )
    running = start_inference(config)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared(service):
    config = service.config
    model, _ = reply_model(config, locate_all(config), HashCache(None))
    return SharedLanguageModel(model, config.llm, config.inference)


def _get(service, path: str):
    url = f"http://127.0.0.1:{service.config.inference.port}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _system(engines) -> list[Message]:
    return [Message("system", engines.persona.system_prompt())]


def test_the_service_runs_the_merged_model_on_loopback(service):
    props = _get(service, "/props")
    assert props["model_path"].endswith("persona-merged.gguf")
    assert props["total_slots"] == 2


def test_warming_caches_the_persona_prompt_in_every_slot(shared, engines, service):
    from ceoline.voice.llm import prompt_head

    shared.warm(engines.persona.system_prompt())
    head = prompt_head(shared._template, _system(engines))
    for slot in range(service.config.inference.parallel):
        again = shared._post(
            {"prompt": shared._tokens(head), "n_predict": 1, "temperature": -1, "id_slot": slot}
        )
        assert again["timings"]["prompt_n"] <= 1, (slot, again["timings"])


def test_a_streamed_reply_comes_token_by_token(shared, engines):
    messages = [*_system(engines), Message("user", "I love the new invoice reminders!")]
    deltas = list(shared.stream(messages))
    assert len(deltas) > 3 and "".join(deltas).strip(), deltas


def test_a_reply_opened_with_an_acknowledgement_goes_on_from_it(shared, engines):
    messages = [*_system(engines), Message("user", "The export to Excel keeps failing.")]
    text = "".join(shared.stream(messages, reply_start="Thanks for telling me."))
    assert text.strip() and not text.lstrip().startswith("Thanks for telling me"), text


def test_a_cut_reply_stops_generating_at_once(shared, engines, service):
    messages = [*_system(engines), Message("user", "Tell me the whole history of Quillfern.")]
    got: list[str] = []
    for delta in shared.stream(messages, max_tokens=600, cancelled=lambda: len(got) >= 2):
        got.append(delta)
    assert len(got) == 2
    # Six hundred tokens take seconds on this CPU; a slot still writing after the cut shows.
    deadline = time.monotonic() + 1.0
    while any(slot["is_processing"] for slot in _get(service, "/slots")):
        assert time.monotonic() < deadline, _get(service, "/slots")
        time.sleep(0.05)
    decoded = max(s.get("next_token", [{}])[0].get("n_decoded", 0) for s in _get(service, "/slots"))
    assert decoded < 60, decoded


@pytest.mark.parametrize(
    "words",
    [
        "What is the mission of your company?",
        "I would like the app to show my payment history.",
        "I think that the invoice screen",
        "When did you open the Lisbon office",
        "so my second point is",
    ],
)
def test_the_end_of_turn_reading_equals_the_local_one(shared, engines, words):
    local = engines.llm.end_of_turn(_system(engines), words)
    remote = shared.end_of_turn(_system(engines), words)
    # llama.cpp's logits move slightly with how a prompt is split into batches (a slot's
    # cached prefix): the same reading within that, and the same side of the turn threshold.
    assert remote == pytest.approx(local, abs=0.05), (words, local, remote)
    threshold = engines.config.turn.text_threshold
    if abs(local - threshold) > 0.05:
        assert (remote >= threshold) == (local >= threshold), (words, local, remote)


def test_a_killed_service_fails_fast_then_answers_again_after_its_restart(
    service, shared, engines, caplog
):
    caplog.set_level(logging.INFO, logger="ceoline.inference")
    messages = [*_system(engines), Message("user", "Hello there.")]
    os.kill(service.proc.pid, signal.SIGKILL)
    service.proc.wait()
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        list(shared.stream(messages))
    with pytest.raises(ServiceUnavailable):
        shared.end_of_turn(_system(engines), "Hello there.")
    assert shared.prefill(_system(engines)) is False
    assert time.monotonic() - started < 1.0
    assert not shared.available
    deadline = time.monotonic() + 60
    while True:
        try:
            text = "".join(shared.stream(messages, max_tokens=8))
            break
        except ServiceUnavailable:
            assert time.monotonic() < deadline, "the service did not come back"
            time.sleep(0.2)
    assert text.strip() and shared.available and service.restarts == 1
    for event in ("inference.unreachable", "inference.died", "inference.restarted"):
        assert event in caplog.text, caplog.text
    assert "inference.back" in caplog.text


def test_a_refused_request_is_an_error_of_the_request_not_an_outage(shared, engines):
    from ceoline.errors import ModelError

    too_long = [*_system(engines), Message("user", "invoice " * 6000)]
    with pytest.raises(ModelError, match="refused the request") as raised:
        list(shared.stream(too_long))
    assert not isinstance(raised.value, ServiceUnavailable)
    assert shared.available
