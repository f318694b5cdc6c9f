"""Conversation logic with scripted stages: real endpointing on real speech, real-time pacing."""

import asyncio
import dataclasses
import time

import numpy as np

from ceoline.config import config_with
from ceoline.store import Store
from ceoline.trust.languages.english import LINES
from ceoline.voice.audio import SAMPLE_RATE
from ceoline.voice.conversation import Overlap, echo_residue
from ceoline.voice.simulate import CallerSource, WavCaller, run_call
from ceoline.voice.stt import Transcript

from ..conftest import FakeLanguageModel, FakeSynthesizer, FakeTranscriber, speech_segment


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def one_question() -> np.ndarray:
    return np.concatenate([silence(0.3), speech_segment(1.0), silence(0.2)])


def call(stages, pcm, store=None, **kwargs):
    return asyncio.run(run_call(stages, WavCaller(pcm, reply_wait_s=10), store, **kwargs))


def caller_turns(result):
    return [t for t in result.turns if t.role == "caller"]


def bot_turns(result):
    return [t for t in result.turns if t.role == "bot"]


def test_greeting_comes_first_and_is_stored(fake_stages, tmp_path):
    store = Store.open(tmp_path)
    result = call(fake_stages, silence(0.5), store)
    assert result.end_reason == "caller_hangup"
    stored = store.get_call(result.call_id)
    assert stored["turns"][0]["role"] == "bot" and stored["turns"][0]["start_ms"] == 0
    assert "AI version" in stored["turns"][0]["text"]
    assert len(result.bot_pcm) >= 0.5 * SAMPLE_RATE  # the greeting was played, on the timeline


def test_streaming_speaks_before_the_reply_is_generated(fake_stages):
    fake_stages.llm = FakeLanguageModel(
        "Thanks for calling, we build simple money tools for small shops and we are "
        "always listening to people like you who take the time to call.",
        token_delay_s=0.06,
    )
    result = call(fake_stages, one_question(), greet=False)
    (heard,) = caller_turns(result)
    t = heard.timings_ms
    assert set(t) >= {"endpoint", "stt", "llm_first_token", "tts_first_audio", "response"}
    # ~25 tokens at 60 ms: the whole reply takes ~1.5 s; the first clause is out long before.
    assert t["llm_total"] > 1200
    assert t["response"] < t["endpoint"] + t["llm_total"] - 600
    assert fake_stages.synthesizer.texts[0] == "Thanks for calling,"


def test_baseline_waits_for_the_whole_reply(fake_stages):
    fake_stages.llm = FakeLanguageModel(
        "One two three four five six seven eight nine ten.", token_delay_s=0.06
    )
    result = call(fake_stages, one_question(), greet=False, streaming=False)
    (heard,) = caller_turns(result)
    t = heard.timings_ms
    assert t["response"] >= t["endpoint"] + t["llm_total"]
    assert t["stt_prefetched"] is False and t["stt"] >= 40  # the fake takes 50 ms
    assert len(fake_stages.synthesizer.texts) == 1


def test_early_transcript_is_reused(fake_stages):
    result = call(fake_stages, one_question(), greet=False)
    (heard,) = caller_turns(result)
    assert heard.timings_ms["stt_prefetched"] is True
    assert heard.timings_ms["stt"] < 50
    assert fake_stages.transcriber.calls == 1


def test_bot_never_starts_over_the_caller(fake_stages):
    # A slow transcript means the reply is ready only once the caller has started again.
    fake_stages.transcriber = FakeTranscriber(delay_s=0.8)
    pcm = np.concatenate(
        [silence(0.3), speech_segment(1.0), silence(0.6), speech_segment(1.5), silence(0.2)]
    )
    result = call(fake_stages, pcm, greet=False)
    heard = caller_turns(result)
    assert len(heard) == 2
    first_reply = min(bot_turns(result), key=lambda t: t.start_ms)
    # The second turn ends at heard[1].end_ms; it is decided end_of_turn_ms later.
    assert first_reply.start_ms >= heard[1].end_ms + 480


def test_reply_stops_after_max_sentences(fake_stages):
    fake_stages.llm = FakeLanguageModel(
        "One. Two. Three. Four. Five. Six. Seven. Eight.", token_delay_s=0.03
    )
    stages = fake_stages
    stages.config = config_with(stages.config, llm={"max_sentences": 2})
    result = call(stages, one_question(), greet=False)
    (reply,) = bot_turns(result)
    assert reply.text == "One. Two."
    assert caller_turns(result)[0].timings_ms["reply_tokens"] < 8


def test_unfinished_fragment_at_token_limit_is_dropped(fake_stages):
    fake_stages.llm = FakeLanguageModel(
        "We love your idea. And we will look at the", token_delay_s=0.01
    )
    fake_stages.config = config_with(fake_stages.config, llm={"max_reply_tokens": 10})
    result = call(fake_stages, one_question(), greet=False)
    (reply,) = bot_turns(result)
    assert reply.text == "We love your idea."


def test_no_words_means_no_turn(fake_stages, tmp_path):
    fake_stages.transcriber = FakeTranscriber(text=" ... ")
    store = Store.open(tmp_path)
    result = call(fake_stages, one_question(), store, greet=False)
    assert result.turns == []
    assert store.get_call(result.call_id)["turns"] == []


def test_empty_or_failing_generation_gets_a_fallback(fake_stages):
    class Broken(FakeLanguageModel):
        def stream(self, messages, max_tokens=None, cancelled=lambda: False, reply_start=""):
            raise RuntimeError("llama.cpp exploded")
            yield  # pragma: no cover

    fake_stages.llm = Broken()
    result = call(fake_stages, one_question(), greet=False)
    (reply,) = bot_turns(result)
    assert reply.text == LINES.fallback


def test_history_reaches_the_model(fake_stages):
    pcm = np.concatenate([one_question(), silence(2.5), one_question()])
    call(fake_stages, pcm, greet=False)
    last = fake_stages.llm.seen[-1]
    assert last[0].role == "system" and "Quillfern" in last[0].content
    assert [m.role for m in last[1:]] == ["user", "assistant", "user"]


class HangUpAt(CallerSource):
    def __init__(self, pcm, at_ms):
        self.inner = WavCaller(pcm, 10)
        self.at_ms = at_ms

    def next_frame(self, conversation, t_ms):
        return None if t_ms >= self.at_ms else self.inner.next_frame(conversation, t_ms)


def test_hang_up_mid_reply_stores_what_was_said(fake_stages, tmp_path):
    fake_stages.llm = FakeLanguageModel(
        "First we started small. Then we grew a lot. Then many more things happened to us.",
        token_delay_s=0.01,
    )
    store = Store.open(tmp_path)
    result = asyncio.run(run_call(fake_stages, HangUpAt(one_question(), 2600), store, greet=False))
    stored = store.get_call(result.call_id)
    bot = [t for t in stored["turns"] if t["role"] == "bot"]
    assert stored["end_reason"] == "caller_hangup" and stored["ended_at"]
    assert len(bot) == 1 and bot[0]["interrupted"] is True
    assert bot[0]["end_ms"] <= 2600
    # Only the pieces whose audio had begun are kept: not the whole generated reply.
    assert bot[0]["text"].startswith("First we started small.")
    assert "many more things" not in bot[0]["text"]


def test_words_said_just_before_hanging_up_are_kept_not_answered(fake_stages, tmp_path):
    fake_stages.transcriber = FakeTranscriber("And please fix the export button.")
    store = Store.open(tmp_path)
    speech = speech_segment(1.5)
    # Hang up 1 s into speech: the turn never reaches its end-of-turn silence.
    result = asyncio.run(run_call(fake_stages, HangUpAt(speech, 1000), store, greet=False))
    stored = store.get_call(result.call_id)
    assert [(t["role"], t["text"]) for t in stored["turns"]] == [
        ("caller", "And please fix the export button.")
    ]
    assert fake_stages.llm.seen == []


BOT = "Our mission is to make paying a bill as easy as sending a text."


def _heard(text: str, logprob: float = -0.3) -> Transcript:
    return Transcript(text, 1.0, 5.0, avg_logprob=logprob)


def test_the_bots_own_words_coming_back_are_echo():
    text = "to make paying a bill easy"
    assert echo_residue(text, _heard(text), BOT, Overlap(over_audio=True), 2000)


def test_a_turn_the_canceller_found_mostly_echo_is_echo():
    over = Overlap(over_audio=True, echo_share=0.7)
    assert echo_residue("I don't know if it's going", _heard("x"), BOT, over, 2000)


def test_a_short_burst_whisper_only_guessed_at_over_the_bot_is_echo():
    guess = _heard("I don't know if it's going to be...", logprob=-1.4)
    over = Overlap(over_audio=True, echo_share=0.1)
    assert echo_residue(guess.text, guess, BOT, over, 860)
    # The same guess at a sentence's length is a caller garbled by the line: kept.
    assert not echo_residue(guess.text, guess, BOT, over, 1900)


def test_a_caller_heard_clearly_over_the_bot_is_the_caller():
    clear = _heard("The export button is really hard to find", logprob=-0.4)
    over = Overlap(over_audio=True, echo_share=0.1)
    assert not echo_residue(clear.text, clear, BOT, over, 900)


def test_unsure_words_that_cut_the_bot_or_ask_it_to_wait_stay_the_callers():
    cut = _heard("I can't find the export button", logprob=-1.3)
    assert not echo_residue(cut.text, cut, BOT, Overlap(over_audio=True, cut_bot=True), 900)
    wait = _heard("Wait, no", logprob=-1.3)
    assert not echo_residue(wait.text, wait, BOT, Overlap(over_audio=True), 600)


class GuessingTranscriber(FakeTranscriber):
    """Whisper's words for a turn it could not make out: a guess, marked by its log-probability."""

    def transcribe(self, pcm) -> Transcript:
        heard = super().transcribe(pcm)
        return Transcript(heard.text, heard.duration_s, heard.elapsed_ms, avg_logprob=-1.4)


def test_words_whisper_guessed_get_a_request_to_say_them_again(fake_stages):
    from ceoline.trust.languages.english import LINES

    fake_stages.transcriber = GuessingTranscriber("Food route at all, go")
    result = call(fake_stages, one_question(), greet=False)
    # No reply made up to the guess is heard, prepared during the pause or not.
    assert [t.text for t in bot_turns(result)] == [LINES.not_caught]


def test_a_guessed_request_for_a_person_is_still_heard(fake_stages):
    from ceoline.trust.languages.english import LINES

    fake_stages.transcriber = GuessingTranscriber("I want to talk to a real person")
    result = call(fake_stages, one_question(), greet=False)
    assert LINES.not_caught not in [t.text for t in bot_turns(result)]


def test_outside_the_lines_hours_a_request_for_a_person_takes_a_message(fake_stages, tmp_path):
    from ceoline.voice.conversation import Conversation

    class Closed:
        def open_at(self, when=None):
            return False

    stages = dataclasses.replace(
        fake_stages, config=config_with(fake_stages.config, handoff={"uri": "sip:support@pbx"})
    )
    store = Store.open(tmp_path)

    async def ask_for_a_person(hours) -> tuple[str, bool]:
        call_id = store.create_call("simulated", "", "Theo")
        conversation = Conversation(stages, store, call_id, greet=False)
        conversation.can_transfer = True
        if hours is not None:
            conversation.handoff_hours = hours
        await conversation._handoff("caller_request")
        await conversation.close()
        (escalation,) = store.get_call(call_id)["escalations"]
        return escalation["outcome"], conversation.policy.taking_message

    assert asyncio.run(ask_for_a_person(None)) == ("transferring", False)
    assert asyncio.run(ask_for_a_person(Closed())) == ("after_hours", True)
    store.close()


class SentencePerTurn:
    """Whisper as scripted: a turn of over 2.2 s is one sentence, a shorter one another."""

    def __init__(self, long: str, short: str, delay_s: float = 0.05):
        self.long, self.short, self.delay_s = long, short, delay_s

    def transcribe(self, pcm) -> Transcript:
        seconds = len(pcm) / SAMPLE_RATE / 2
        time.sleep(self.delay_s)
        return Transcript(self.long if seconds > 2.2 else self.short, seconds, 50.0)


def test_a_caller_who_goes_on_over_the_greeting_is_answered_once_for_all_they_said(
    fake_stages, tmp_path
):
    # The pause after the first sentence ends a turn while the disclosure still plays; the
    # caller goes on before it ends, so nothing was lost by waiting for the rest.
    complaint = "Your app charged my customer twice and nobody answers my emails."
    fake_stages.transcriber = SentencePerTurn(complaint, "I want my money back now.")
    fake_stages.synthesizer = FakeSynthesizer(seconds_per_word=0.4)  # a 7 s greeting
    pcm = np.concatenate(
        [silence(0.3), speech_segment(2.0), silence(0.8), speech_segment(0.8), silence(0.3)]
    )
    store = Store.open(tmp_path)
    result = call(fake_stages, pcm, store)
    stored = store.get_call(result.call_id)
    callers = [t for t in stored["turns"] if t["role"] == "caller"]
    bots = [t for t in stored["turns"] if t["role"] == "bot"]
    assert [t["text"] for t in callers] == [f"{complaint} I want my money back now."]
    assert callers[0]["start_ms"] < 500 and callers[0]["end_ms"] > 3500
    greeting, *replies = bots
    assert "AI version" in greeting["text"] and not greeting["interrupted"]
    (reply,) = replies  # one answer, after the disclosure, to the whole complaint
    assert reply["start_ms"] >= greeting["end_ms"]
    assert "support team" in reply["text"] and reply["text"] != LINES.offer_again


def test_a_caller_who_stops_over_the_greeting_is_answered_as_it_ends(fake_stages, tmp_path):
    fake_stages.transcriber = FakeTranscriber("The invoice list is slow with many clients.")
    fake_stages.synthesizer = FakeSynthesizer(seconds_per_word=0.4)
    store = Store.open(tmp_path)
    pcm = np.concatenate([silence(0.3), speech_segment(2.0), silence(0.6)])
    result = call(fake_stages, pcm, store)
    stored = store.get_call(result.call_id)
    callers = [t for t in stored["turns"] if t["role"] == "caller"]
    greeting, reply = (t for t in stored["turns"] if t["role"] == "bot")
    assert len(callers) == 1 and callers[0]["end_ms"] < 3000
    # The wait for more stopped before the greeting's end: the reply follows it at once.
    assert greeting["end_ms"] <= reply["start_ms"] <= greeting["end_ms"] + 300, stored["turns"]


def test_a_caller_who_hangs_up_while_the_greeting_plays_loses_no_words(fake_stages, tmp_path):
    fake_stages.transcriber = FakeTranscriber("The invoice list is slow with many clients.")
    fake_stages.synthesizer = FakeSynthesizer(seconds_per_word=0.4)
    store = Store.open(tmp_path)
    pcm = np.concatenate([silence(0.3), speech_segment(2.0), silence(0.8)])
    started = time.perf_counter()
    result = asyncio.run(run_call(fake_stages, WavCaller(pcm, reply_wait_s=0.2), store))
    assert time.perf_counter() - started < 8  # the wait for more ends with the call
    callers = [t for t in store.get_call(result.call_id)["turns"] if t["role"] == "caller"]
    assert [t["text"] for t in callers] == ["The invoice list is slow with many clients."]
