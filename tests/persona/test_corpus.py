"""The persona corpus and held-out set: the shipped files, and what a bad corpus gets."""

import json
import re

import pytest

from ceoline.errors import CeolineError
from ceoline.persona.corpus import chat_messages, load_examples, notes_for
from ceoline.trust import guardrails

from ..conftest import ROOT

CORPUS = ROOT / "configs" / "persona" / "corpus.jsonl"
HELDOUT = ROOT / "configs" / "persona" / "heldout.jsonl"


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def test_shipped_corpus_and_heldout_are_big_enough_and_apart():
    corpus, heldout = load_examples(CORPUS), load_examples(HELDOUT)
    assert len(corpus) >= 250 and len(heldout) >= 50
    assert len({_key(e.prompt) for e in corpus}) == len(corpus)
    assert not {_key(e.prompt) for e in heldout} & {_key(e.prompt) for e in corpus}
    topics = {e.topic for e in corpus}
    assert {"product", "story", "complaint", "suggestion", "boundaries"} <= topics
    assert {e.topic for e in heldout} <= topics


def test_every_reply_is_a_safe_spoken_answer(persona):
    phrases = [p.lower() for p in persona.signature_phrases]
    with_phrase = 0
    for example in [*load_examples(CORPUS), *load_examples(HELDOUT)]:
        words = len(example.reply.split())
        assert 8 <= words <= 60, example
        # What the adapter learns must pass the same check that guards live calls.
        assert guardrails.check_bot(example.reply) is None, example
        assert not re.search(r"[*#\n]", example.reply), example
        with_phrase += any(p in example.reply.lower() for p in phrases)
    assert with_phrase > 0


def test_examples_use_the_prompt_a_live_call_sends(persona):
    messages = chat_messages(persona, "Hi Theo", "Hello there.")
    assert [m.role for m in messages] == ["system", "user", "assistant"]
    assert messages[0].content == persona.system_prompt()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json\n", ":1: not a JSON object"),
        ('{"prompt": "a", "reply": "b"}\n', ":1: expected exactly the keys topic, prompt, reply"),
        (
            '{"topic": "x", "prompt": "a", "reply": "b"}\n'
            '{"topic": "x", "prompt": "", "reply": "b"}',
            ":2: topic, prompt and reply must be non-empty",
        ),
        ("\n\n", "corpus has no examples"),
    ],
)
def test_a_bad_corpus_names_its_line(tmp_path, text, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text(text)
    with pytest.raises(CeolineError, match=re.escape(message)):
        load_examples(path)


def test_a_missing_corpus_says_how_to_point_at_one(tmp_path):
    with pytest.raises(CeolineError, match="--corpus"):
        load_examples(tmp_path / "nope.jsonl")


def test_corpus_lines_are_plain_json_objects():
    for line in CORPUS.read_text().splitlines():
        assert set(json.loads(line)) == {"topic", "prompt", "reply"}


def test_examples_carry_the_notes_a_call_would_retrieve(config, persona):
    from ceoline.trust.knowledge import open_knowledge

    knowledge = open_knowledge(config)
    lisbon = notes_for(config, persona, knowledge, "When did you open the office in Lisbon?")
    assert lisbon and any("Lisbon" in note for note in lisbon)
    messages = chat_messages(persona, "When did you open the office in Lisbon?", notes=lisbon)
    assert messages[1].content.startswith("When did you open the office in Lisbon?\n\n(Answer")
    # Words that never reach the model in a call get no notes either.
    assert notes_for(config, persona, knowledge, "Please refund my last payment.") == ()
    assert notes_for(config, persona, None, "When did you open the office in Lisbon?") == ()
