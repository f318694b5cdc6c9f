"""The turn judge: verdicts run off the tick and belong to the pause they were asked in."""

import asyncio

from ceoline.voice.endpointing import TurnCheck
from ceoline.voice.turn_judge import TurnJudge

from ..conftest import FakeTurnModel

CHECK = TurnCheck(t_ms=1000, silence_ms=200, audio=b"\0" * 640)


async def settle():
    for _ in range(20):
        await asyncio.sleep(0.01)


def test_a_confident_verdict_says_finished():
    async def scenario():
        judge = TurnJudge(FakeTurnModel(complete=0.8, delay_s=0.01), threshold=0.5)
        judge.ask(CHECK)
        assert judge.finished is None  # not on the tick that asked
        await settle()
        assert judge.finished.complete == 0.8
        checks, last = judge.turn_over()
        assert checks == 1 and last.complete == 0.8 and judge.finished is None

    asyncio.run(scenario())


def test_an_unsure_verdict_does_not():
    async def scenario():
        judge = TurnJudge(FakeTurnModel(complete=0.3, delay_s=0.01), threshold=0.5)
        judge.ask(CHECK)
        await settle()
        assert judge.finished is None and judge.last.complete == 0.3

    asyncio.run(scenario())


def test_a_verdict_landing_after_the_caller_went_on_is_void():
    async def scenario():
        judge = TurnJudge(FakeTurnModel(complete=0.99, delay_s=0.05), threshold=0.5)
        judge.ask(CHECK)
        judge.resumed()
        await settle()
        assert judge.finished is None

    asyncio.run(scenario())


def test_a_check_still_running_is_not_queued_behind():
    async def scenario():
        model = FakeTurnModel(complete=0.2, delay_s=0.05)
        judge = TurnJudge(model, threshold=0.5)
        judge.ask(CHECK)
        judge.ask(CHECK)
        await settle()
        assert model.calls == 1

    asyncio.run(scenario())
