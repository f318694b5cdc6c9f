"""Calls that end on their own: silence and the length limit (fast, with scripted stages)."""

import asyncio

from ceoline.config import config_with
from ceoline.store import Store
from ceoline.trust.languages.english import LINES
from ceoline.voice.audio import SILENT_FRAME
from ceoline.voice.lifecycle import CallLifecycle
from ceoline.voice.simulate import CallerSource, run_call


class SilentCaller(CallerSource):
    def next_frame(self, conversation, t_ms):
        return SILENT_FRAME if t_ms < 60_000 else None


def test_silence_gets_a_prompt_then_a_goodbye_then_a_hang_up(fake_stages, tmp_path):
    stages = fake_stages
    stages.config = config_with(stages.config, call={"silence_prompt_s": 1, "silence_timeout_s": 2})
    store = Store.open(tmp_path)
    result = asyncio.run(run_call(stages, SilentCaller(), store))
    assert result.end_reason == "silence"
    bot = [t.text for t in result.turns if t.role == "bot"]
    assert bot[0] == stages.persona.greeting
    assert bot[1] == LINES.still_there
    assert bot[2].startswith("I can't hear anything") and stages.persona.goodbye_line in bot[2]
    # prompt after 1 s of quiet, goodbye after 2 s more quiet counted from the prompt's end
    turns = [t for t in result.turns if t.role == "bot"]
    assert 1000 <= turns[1].start_ms - turns[0].end_ms <= 1100
    assert 2000 <= turns[2].start_ms - turns[1].end_ms <= 2100
    stored = store.get_call(result.call_id)
    assert stored["end_reason"] == "silence"
    assert [t["text"] for t in stored["turns"]] == bot
    store.close()


class FakeConversation:
    def __init__(self):
        self.caller_speaking = False
        self.idle = True
        self.finished = False
        self.said = []
        self.goodbye = None

    def say(self, text):
        self.said.append(text)

    def finish(self, text):
        self.goodbye = text


def test_length_limit_ends_even_a_busy_call(config, persona):
    conv = FakeConversation()
    conv.idle = False
    life = CallLifecycle(conv, config_with(config, call={"max_duration_s": 10}).call, persona)
    assert life.tick(9_980) is None and conv.goodbye is None
    assert life.tick(10_000) is None
    assert "time limit" in conv.goodbye and life.ending == "max_duration"
    conv.finished = True
    assert life.tick(10_020) == "max_duration"


def test_a_goodbye_that_cannot_be_played_is_given_up_on(config, persona):
    conv = FakeConversation()
    life = CallLifecycle(conv, config.call, persona)
    life.end("shutdown")
    life.end("silence")  # the first ending wins
    assert "close right now" in conv.goodbye
    assert life.tick(0) is None
    assert life.tick(14_980) is None
    assert life.tick(15_000) == "shutdown"


def test_caller_speech_and_a_busy_line_reset_the_silence_clock(config, persona):
    conv = FakeConversation()
    call = config_with(config, call={"silence_prompt_s": 0, "silence_timeout_s": 5}).call
    life = CallLifecycle(conv, call, persona)
    conv.idle = False
    life.tick(4_000)
    conv.idle = True
    assert life.tick(8_980) is None and conv.goodbye is None
    life.tick(9_000)
    assert conv.goodbye is not None and life.ending == "silence"
    assert conv.said == []  # prompt disabled
