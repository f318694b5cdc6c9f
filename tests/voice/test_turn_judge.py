"""The turn judge: verdicts run off the tick, belong to the pause they were asked in, and end
a turn only together with the early transcript."""

import asyncio

from ceoline.config import TurnConfig
from ceoline.voice.endpointing import TurnCheck
from ceoline.voice.llm import EndReading
from ceoline.voice.turn_judge import TurnJudge, ends_turn
from ceoline.voice.turn_model import TurnVerdict

from ..conftest import FakeTurnModel

CONFIG = TurnConfig()


def check(silence_ms: int = 200) -> TurnCheck:
    return TurnCheck(t_ms=1000 + silence_ms, silence_ms=silence_ms, audio=b"\0" * 640)


def verdicts(*pairs):
    return [(silence, TurnVerdict(p, 30.0)) for silence, p in pairs]


async def settle():
    for _ in range(20):
        await asyncio.sleep(0.01)


def test_a_question_ends_on_one_confident_verdict():
    assert ends_turn("What is your mission?", verdicts((200, 0.8)), CONFIG)
    assert not ends_turn("What is your mission?", verdicts((200, 0.3)), CONFIG)


def test_a_question_heard_without_its_mark_is_still_a_question():
    # Whisper's "When was" as "One was", and no question mark.
    assert ends_turn("One was Quillfern founded and by whom", verdicts((500, 0.8)), CONFIG)


def test_a_statement_needs_silence_and_two_confident_verdicts_in_a_row():
    text = "The problems are the login."
    assert not ends_turn(text, verdicts((200, 0.99)), CONFIG)
    assert not ends_turn(text, verdicts((200, 0.99), (500, 0.99)), CONFIG)  # too soon
    assert not ends_turn(text, verdicts((500, 0.5), (800, 0.99)), CONFIG)
    assert ends_turn(text, verdicts((200, 0.2), (500, 0.9), (800, 0.95)), CONFIG)


def test_words_that_hang_never_end_a_turn():
    assert not ends_turn("I think that", verdicts((500, 0.99), (800, 0.99)), CONFIG)
    assert not ends_turn("Honestly.", verdicts((500, 0.99), (800, 0.99)), CONFIG)
    assert not ends_turn("", verdicts((500, 0.99), (800, 0.99)), CONFIG)
    assert not ends_turn("What is your mission?", [], CONFIG)


def test_verdicts_arrive_later_and_are_kept_for_the_pause():
    async def scenario():
        judge = TurnJudge(FakeTurnModel(complete=0.8, delay_s=0.01), CONFIG)
        judge.ask(check())
        assert judge.verdicts == []  # not on the tick that asked
        await settle()
        assert judge.ends_turn("Who founded the company?")
        checks, last, words = judge.turn_over()
        assert checks == 1 and last.complete == 0.8 and judge.verdicts == [] and words is None

    asyncio.run(scenario())


def test_a_verdict_landing_after_the_caller_went_on_is_void():
    async def scenario():
        judge = TurnJudge(FakeTurnModel(complete=0.99, delay_s=0.05), CONFIG)
        judge.ask(check())
        judge.resumed()
        await settle()
        assert judge.verdicts == [] and not judge.ends_turn("Who founded the company?")

    asyncio.run(scenario())


def test_a_check_still_running_is_not_queued_behind():
    async def scenario():
        model = FakeTurnModel(complete=0.2, delay_s=0.05)
        judge = TurnJudge(model, CONFIG)
        judge.ask(check(200))
        judge.ask(check(500))
        await settle()
        assert model.calls == 1

    asyncio.run(scenario())


def test_the_reply_models_reading_of_the_words_ends_a_turn_at_once():
    assert ends_turn("Who started the company with you", [], CONFIG, words_end=0.2)
    # Below the threshold the verdicts decide, as without the reading.
    assert not ends_turn("The invoice screen is confusing", [], CONFIG, words_end=0.001)
    assert not ends_turn("I think that", verdicts((200, 0.99)), CONFIG, words_end=0.9)
    off = TurnConfig(text_threshold=0.0)
    assert not ends_turn("Who started the company with you", [], off, words_end=0.9)


def test_a_statement_the_reader_is_sure_of_ends_on_one_verdict_without_the_wait():
    said = "The invoice screen is too slow"
    sure, unsure = CONFIG.reader_threshold + 0.05, CONFIG.reader_threshold - 0.05
    one = verdicts((200, CONFIG.reader_verdict))
    assert ends_turn(said, one, CONFIG, words_end=0.001, words_finished=sure)
    # The sound still counts: under reader_verdict it holds the statement...
    low = verdicts((200, CONFIG.reader_verdict - 0.1))
    assert not ends_turn(said, low, CONFIG, words_end=0.001, words_finished=sure)
    # ...unless the reader alone is sure enough: then reader_wait_ms of silence end it,
    # counted at every tick, not only when a verdict comes.
    alone, wait = CONFIG.reader_alone, CONFIG.reader_wait_ms
    assert not ends_turn(said, low, CONFIG, words_end=0.001, words_finished=alone)
    assert ends_turn(said, low, CONFIG, words_end=0.001, words_finished=alone, silence_ms=wait)
    later = verdicts((200, 0.1), (wait, 0.05))
    assert ends_turn(said, later, CONFIG, words_end=0.001, words_finished=alone)
    assert not ends_turn(said, later, CONFIG, words_end=0.001, words_finished=sure)
    # Unsure, or no reader: the statement waits statement_ms and two verdicts, as before.
    assert not ends_turn(said, one, CONFIG, words_end=0.001, words_finished=unsure)
    assert not ends_turn(said, one, CONFIG, words_end=0.001)
    two = verdicts((CONFIG.statement_ms - 300, 0.95), (CONFIG.statement_ms, 0.95))
    assert ends_turn(said, two, CONFIG, words_end=0.001, words_finished=unsure)
    assert ends_turn(said, two, CONFIG, words_end=0.001, words_finished=sure)
    # Under the floor only the fallback ends it.
    floor = CONFIG.reader_floor / 2
    assert not ends_turn(said, two, CONFIG, words_end=0.001, words_finished=floor)
    # No reading ends words that hang, nor before any verdict is in.
    assert not ends_turn("The invoice screen and", one, CONFIG, words_finished=0.99)
    assert not ends_turn(said, [], CONFIG, words_end=0.001, words_finished=0.99)


class Words:
    """A reply model's end-of-turn reading: fixed answers, after a delay, recorded."""

    def __init__(self, words_end: float, delay_s: float = 0.01):
        self.words_end, self.delay_s, self.asked = words_end, delay_s, []

    def __call__(self, context, text):
        import time

        time.sleep(self.delay_s)
        self.asked.append((len(context), text))
        return EndReading(turn_end=1, after_words={1: self.words_end}, after_closers={})


class Reader:
    """A turn reader that is always as sure."""

    def __init__(self, finished: float):
        self.finished, self.read = finished, []

    def p_finished(self, reading, words):
        self.read.append((reading.p_end, words))
        return self.finished


class Heard:
    def __init__(self, text):
        self.text = text


def transcript(text: str) -> asyncio.Future:
    future = asyncio.get_running_loop().create_future()
    future.set_result(Heard(text))
    return future


def test_the_words_are_read_once_the_transcript_is_in_and_belong_to_their_pause():
    async def scenario():
        words = Words(0.3)
        judge = TurnJudge(FakeTurnModel(complete=0.1, delay_s=0.01), CONFIG, words)
        read = judge.ask_words(transcript("Who started the company with you"), ["system"])
        assert judge.words_end is None  # not on the tick that asked
        await read
        assert words.asked == [(1, "Who started the company with you")]
        assert judge.ends_turn("Who started the company with you")
        assert judge.turn_over()[2].end == 0.3 and judge.words_end is None
        # The caller went on before the reading began: it is not even started.
        read = judge.ask_words(transcript("My question is about the price"), [])
        judge.resumed()
        await read
        assert judge.words_end is None and len(words.asked) == 1
        # A reading that lands after the caller went on is void.
        read = judge.ask_words(transcript("Where is your office"), [])
        await asyncio.sleep(0.005)
        judge.resumed()
        await read
        assert judge.words_end is None and len(words.asked) == 2
        # Words left hanging are not read at all.
        await judge.ask_words(transcript("I think that"), [])
        assert len(words.asked) == 2 and judge.words_end is None

    asyncio.run(scenario())


def test_the_reader_reads_the_same_reading_and_its_verdict_is_kept_with_the_turn():
    async def scenario():
        reader = Reader(0.9)
        judge = TurnJudge(FakeTurnModel(complete=0.1), CONFIG, Words(0.002), reader)
        await judge.ask_words(transcript("The export is broken."), ["system"])
        assert reader.read == [(0.002, "The export is broken.")]
        assert judge.words_finished == 0.9
        judge.verdicts = verdicts((200, CONFIG.reader_verdict))
        assert judge.ends_turn("The export is broken.")
        words = judge.turn_over()[2]
        assert (words.end, words.finished) == (0.002, 0.9) and judge.words_finished is None

    asyncio.run(scenario())


def test_without_a_reading_model_the_verdicts_decide():
    async def scenario():
        judge = TurnJudge(FakeTurnModel(complete=0.1), TurnConfig(text_threshold=0), Words(0.9))
        assert judge.ask_words(transcript("Who started the company with you"), []) is None
        assert judge.words is None and judge.words_end is None

    asyncio.run(scenario())
