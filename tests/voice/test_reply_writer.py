"""The reply writer with scripted stages: what is said before the model, and when the model
may start."""

import asyncio

from ceoline.trust.dialogue import Action, Decision
from ceoline.voice.llm import Message
from ceoline.voice.reply_writer import ReplyWriter
from ceoline.voice.timings import TurnTimings
from ceoline.voice.utterance import Utterance

ACK = "I'm sorry about that, that's on us."


def writer(stages) -> ReplyWriter:
    loop = asyncio.get_running_loop()
    started = loop.time()
    return ReplyWriter(
        stages,
        "call-1",
        streaming=True,
        system=Message("system", "You are Theo."),
        clock=lambda: (loop.time() - started) * 1000,
        stopped=lambda: False,
        spawn=asyncio.ensure_future,
        on_guardrail=lambda side, category: None,
        notes_check=lambda: None,
    )


def test_the_acknowledgement_is_said_before_the_model_which_goes_on_from_it(fake_stages):
    async def scenario():
        model_free = asyncio.get_running_loop().create_future()
        reply, timings = Utterance(), TurnTimings()
        decision = Decision(Action.LLM, opening=ACK)
        history = [Message("user", "The export button is broken.")]
        writing = asyncio.ensure_future(
            writer(fake_stages).write(reply, timings, decision, history, model_free)
        )
        await asyncio.sleep(0.2)
        # Heard at once; the model waits while it is still reading the caller's words.
        assert reply.text_parts == [ACK] and len(reply.audio) > 0
        assert fake_stages.llm.seen == []
        model_free.set_result(0.4)
        await writing
        return reply

    reply = asyncio.run(scenario())
    assert fake_stages.llm.starts == [ACK]
    assert fake_stages.llm.seen[0][-1].content == "The export button is broken."
    assert reply.text == f"{ACK} {fake_stages.llm.reply}"
    assert fake_stages.synthesizer.texts[0] == ACK


def test_without_an_acknowledgement_the_model_writes_the_whole_reply(fake_stages):
    async def scenario():
        reply = Utterance()
        decision = Decision(Action.LLM)
        history = [Message("user", "Hello there.")]
        await writer(fake_stages).write(reply, TurnTimings(), decision, history)
        return reply

    reply = asyncio.run(scenario())
    assert fake_stages.llm.starts == [""]
    assert reply.text == fake_stages.llm.reply


def test_a_reply_cut_while_the_model_was_reading_never_starts_the_model(fake_stages):
    async def scenario():
        model_free = asyncio.get_running_loop().create_future()
        reply = Utterance()
        decision = Decision(Action.LLM, opening=ACK)
        history = [Message("user", "The export button is broken.")]
        writing = asyncio.ensure_future(
            writer(fake_stages).write(reply, TurnTimings(), decision, history, model_free)
        )
        await asyncio.sleep(0.2)
        writing.cancel()  # the caller went on: the prepared reply is dropped
        await asyncio.sleep(0)
        model_free.set_result(0.0)  # the reading finishes all the same
        await asyncio.sleep(0.2)
        return reply

    reply = asyncio.run(scenario())
    assert reply.text_parts == [ACK]
    assert fake_stages.llm.seen == []
