"""The reply model: its reading of a caller's words as finished or not, with the real GGUF."""

import dataclasses

import pytest

from ceoline.voice.llm import LanguageModel, Message

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def greedy(engines):
    """The reply model as calls load it, sampling greedily to compare replies."""
    from ceoline.engines import locate_all, reply_model
    from ceoline.locator import HashCache

    config = engines.config
    model, adapter = reply_model(
        config, locate_all(config), HashCache(config.data_dir / ".hashes.json")
    )
    llm_config = dataclasses.replace(config.llm, temperature=0.0)
    return LanguageModel(model, llm_config, config.runtime, adapter=adapter)


def test_a_finished_question_reads_as_an_end_and_a_hanging_clause_does_not(engines):
    system = [Message("system", engines.persona.system_prompt())]
    threshold = engines.config.turn.text_threshold
    read = engines.llm.end_of_turn
    assert read(system, "Who started the company with you?") >= threshold
    assert read(system, "When did you open the Lisbon office") >= threshold
    for hold in ("I think that", "My question is", "The problems are the login, the reminders"):
        assert read(system, hold) < threshold, hold
    assert read(system, "  ...  ") == 0.0


def test_reading_the_words_changes_nothing_in_the_reply_and_leaves_its_prefix_evaluated(
    greedy, persona
):
    system = Message("system", persona.system_prompt())
    history = [system, Message("user", "Hi"), Message("assistant", "Hello, thanks for calling.")]
    words = "I'd love a dark mode in the app"
    messages = [*history, Message("user", words + ".")]
    before = "".join(greedy.stream(messages, max_tokens=16))
    greedy.end_of_turn(history, words)
    llama = greedy.llama
    evaluated = llama.n_tokens
    # The reply's prompt shares everything the reading evaluated.
    chatml = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in history)
    prompt = f"{chatml}<|im_start|>user\n{words}".encode()
    shown = llama.tokenize(prompt, add_bos=True, special=True)
    assert llama.longest_token_prefix(llama._input_ids, shown) == len(shown) == evaluated
    after = "".join(greedy.stream(messages, max_tokens=16))
    assert after == before and after.strip()


def test_the_prompt_is_evaluated_while_the_caller_talks_unless_a_reply_is_being_written(
    greedy, persona
):
    context = [Message("system", persona.system_prompt()), Message("assistant", "Hello.")]
    llama = greedy.llama
    assert greedy.prefill(context)
    head = llama.n_tokens
    chatml = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in context)
    assert head == len(llama.tokenize(f"{chatml}<|im_start|>user\n".encode(), special=True))
    evaluated = list(llama._input_ids)
    greedy.end_of_turn(context, "Who started the company")
    # The reading went on from the evaluated prompt: only the words were new.
    assert list(llama._input_ids[:head]) == evaluated and llama.n_tokens > head
    words = llama.n_tokens
    with greedy._lock:  # a reply is being written
        assert not greedy.prefill([Message("system", "another call")])
    assert llama.n_tokens == words


def test_a_reply_goes_on_from_the_words_already_said(greedy, persona):
    system = Message("system", persona.system_prompt())
    messages = [system, Message("user", "The export button is broken on my laptop.")]
    ack = "I'm sorry about that, that's on us."
    rest = "".join(greedy.stream(messages, max_tokens=24, reply_start=ack))
    assert rest.strip() and ack not in rest
    llama = greedy.llama
    prompt = llama.detokenize(list(llama._input_ids), special=True).decode()
    # The model went on inside its own message, after any mark it opens replies with.
    opened = prompt.index("<|im_start|>assistant\n") + len("<|im_start|>assistant\n")
    assert prompt[opened:].lstrip("\"'").startswith(ack + rest[:8])
