"""The language model: llama.cpp with the persona system prompt, streaming text deltas."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ceoline.config import ChunkerConfig, LlmConfig, RuntimeConfig
from ceoline.errors import ModelError
from ceoline.locator import ModelFiles
from ceoline.voice.chunker import Chunker


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


# Stands in for the caller's words while the chat template is rendered, to find where they go.
_WORDS = "\x00words\x00"
_CLOSING = re.compile(r"[.?!,;:\s]+$")
_QUOTES = set("\"'“”‘’«»")
# How many of the most likely next tokens a reading keeps: what the shared service returns
# (its n_probs), so a local reading and a shared one see the same tokens.
TOP_TOKENS = 32
# A closing mark less likely than this next adds nothing a threshold could see; skipping it
# saves an evaluation.
CLOSER_FLOOR = 1e-3


@dataclass(frozen=True)
class EndReading:
    """The reply model's next-token distribution after a caller's words: its ``TOP_TOKENS``
    most likely tokens (id → probability), and P(end of message) after each closing mark
    among them with at least ``CLOSER_FLOOR``."""

    turn_end: int
    after_words: dict[int, float]
    after_closers: dict[int, float]

    @property
    def p_end(self) -> float:
        """P(the message ends here): the end token next, or a closing mark and then it."""
        total = self.after_words.get(self.turn_end, 0.0)
        for closer, end in self.after_closers.items():
            total += self.after_words.get(closer, 0.0) * end
        return total


def single_token(llama, text: str) -> int | None:
    """The id of ``text`` when ``llama``'s vocabulary holds it as one token, else None."""
    ids = llama.tokenize(text.encode(), add_bos=False, special=False)
    return ids[0] if len(ids) == 1 else None


def token_piece(llama, token: int) -> str:
    """The text of one token of ``llama``'s vocabulary."""
    return llama.detokenize([token]).decode("utf-8", errors="replace")


def top_tokens(probs: np.ndarray) -> dict[int, float]:
    top = np.argpartition(probs, -TOP_TOKENS)[-TOP_TOKENS:]
    return {int(t): float(probs[t]) for t in top}


def llama_options(
    model: ModelFiles,
    config: LlmConfig,
    runtime: RuntimeConfig,
    adapter: ModelFiles | None = None,
) -> dict:
    options = {
        "model_path": str(model.path),
        "n_ctx": config.context_tokens,
        "n_threads": runtime.stage_threads,
        "n_gpu_layers": config.gpu_layers if runtime.device == "cuda" else 0,
        "seed": config.seed,
        "verbose": False,
    }
    if adapter is not None:
        # llama.cpp adds the LoRA product at run time, so it also works on the GPU layers.
        options["lora_path"] = str(adapter.path)
        options["lora_scale"] = config.adapter_scale
    return options


def chat_template(llama):
    """The chat template create_chat_completion renders, the token that closes a caller's
    message in it, and the tokens of the marks a sentence may close with; None when the
    GGUF carries no template (then the model cannot judge a turn's end). ``llama`` may be a
    vocabulary-only load: nothing here evaluates."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    render = Jinja2ChatFormatter(template, eos_token="", bos_token="")
    shown = render(messages=[{"role": "user", "content": _WORDS}]).prompt
    after = shown[shown.index(_WORDS) + len(_WORDS) :]
    closing = llama.tokenize(after.encode(), add_bos=False, special=True)
    if not closing:
        return None
    closers = [llama.tokenize(c.encode(), add_bos=False)[0] for c in ".?!"]
    return render, closing[0], closers


def prompt_head(template, context: list[Message]) -> str | None:
    """The prompt text before the caller's next words, as the chat template renders it."""
    if template is None:
        return None
    messages = [{"role": m.role, "content": m.content} for m in context]
    shown = template[0](messages=[*messages, {"role": "user", "content": _WORDS}])
    return shown.prompt[: shown.prompt.index(_WORDS)]


def is_quote_mark(text: str) -> bool:
    return bool(text.strip()) and set(text.strip()) <= _QUOTES


def closing_words(words: str) -> str:
    """The caller's words without the marks and space they trail off with."""
    return _CLOSING.sub("", words.strip())


class LanguageModel:
    """One shared llama.cpp context.

    llama-cpp-python reuses the KV cache for the longest prompt prefix it has already seen, so
    keeping the system prompt first and unchanged makes every turn's prompt evaluation cheap.
    """

    def __init__(
        self,
        model: ModelFiles,
        config: LlmConfig,
        runtime: RuntimeConfig,
        adapter: ModelFiles | None = None,
        logits_all: bool = False,
    ):
        from llama_cpp import Llama

        self.config = config
        self.model_files = model
        self.adapter = adapter
        try:
            self._llama = Llama(
                **llama_options(model, config, runtime, adapter), logits_all=logits_all
            )
        except (ValueError, RuntimeError, OSError) as exc:
            what = f"LLM {model.path}" + (f" with adapter {adapter.path}" if adapter else "")
            raise ModelError(
                f"cannot load {what} ({str(exc).splitlines()[0]}); check the files are intact "
                "GGUF and [runtime] device"
            ) from None
        self._lock = threading.Lock()
        self._template = self._chat_template()

    def _chat_template(self):
        return chat_template(self._llama)

    @property
    def llama(self):
        """The llama.cpp handle, for scoring text (see :mod:`ceoline.persona.evaluation`)."""
        return self._llama

    def single_token(self, text: str) -> int | None:
        return single_token(self._llama, text)

    def token_piece(self, token: int) -> str:
        return token_piece(self._llama, token)

    def warm(self, system_prompt: str) -> None:
        """Evaluate the system prompt once so the first caller's first token comes quickly."""
        for _ in self.stream(
            [Message("system", system_prompt), Message("user", "Hi")], max_tokens=1
        ):
            pass

    def _head(self, context: list[Message]) -> str | None:
        return prompt_head(self._template, context)

    def _evaluate(self, tokens: list[int]) -> None:
        """Evaluate ``tokens`` from the longest prefix already in the KV cache (lock held)."""
        llama = self._llama
        keep = min(llama.longest_token_prefix(llama._input_ids, tokens), len(tokens) - 1)
        llama.n_tokens = keep
        llama.eval(tokens[keep:])

    def prefill(self, context: list[Message]) -> bool:
        """Evaluate the prompt up to the caller's next words while the caller is still talking,
        so reading the words and the reply that follows start from there. Skipped (False)
        when the model is busy: a reply being written comes first."""
        head = self._head(context)
        if head is None or not self._lock.acquire(blocking=False):
            return False
        try:
            self._evaluate(self._llama.tokenize(head.encode(), add_bos=True, special=True))
        finally:
            self._lock.release()
        return True

    def end_of_turn(self, context: list[Message], words: str) -> float | None:
        """P(the caller's message ends after ``words``), as the reply model reads it: the
        chance that the template's end-of-message token comes next, directly or after one
        ".", "?" or "!". ``context`` is what precedes the caller's message in the reply's
        prompt (the system prompt first), so its evaluation is the prefix the reply reuses.

        On the labelled pause set this tells a finished turn from a hold far better than
        the sound of the turn does (scripts/turn_signals.py: ROC AUC 0.94 against Smart
        Turn's 0.66 at the first pause). None when the model has no chat template.
        """
        reading = self.read_end(context, words)
        return None if reading is None else reading.p_end

    def read_end(self, context: list[Message], words: str) -> EndReading | None:
        """The distribution :meth:`end_of_turn` is read from, for the turn reader
        (:mod:`ceoline.voice.turn_reader`). None when the model has no chat template."""
        head = self._head(context)
        if head is None:
            return None
        _, turn_end, closers = self._template
        words = closing_words(words)
        if not words:
            return EndReading(turn_end, {}, {})
        llama = self._llama
        # As create_chat_completion tokenizes its prompt, so the two share their prefix.
        tokens = llama.tokenize((head + words).encode(), add_bos=True, special=True)
        with self._lock:
            # llama-cpp-python keeps no logits without logits_all (a row per token); the
            # context's last row is read instead.
            self._evaluate(tokens)
            after_words = llama.n_tokens
            top = top_tokens(self._next_token_probs())
            after_closers = {}
            for closer in closers:
                if top.get(closer, 0.0) >= CLOSER_FLOOR:
                    llama.n_tokens = after_words
                    llama.eval([closer])
                    after_closers[closer] = float(self._next_token_probs()[turn_end])
            llama.n_tokens = after_words  # the reply that follows starts from the words
        return EndReading(turn_end, top, after_closers)

    def _next_token_probs(self) -> np.ndarray:
        llama = self._llama
        logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
        logits = logits.astype(np.float64) - logits.max()
        probs = np.exp(logits)
        return probs / probs.sum()

    def stream(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        reply_start: str = "",
    ) -> Iterator[str]:
        """Yield text deltas; stop early (between tokens) once ``cancelled()`` is true.

        ``reply_start``: words already said as the reply's beginning (an acknowledgement);
        the model writes what follows them, and only that is yielded.
        """
        with self._lock:
            if reply_start and self._template is not None:
                chunks = self._continue(messages, reply_start, max_tokens)
                text_of = _completion_text
            else:
                chunks = self._llama.create_chat_completion(
                    [{"role": m.role, "content": m.content} for m in messages],
                    stream=True,
                    max_tokens=max_tokens or self.config.max_reply_tokens,
                    **self._sampling(),
                )
                text_of = _chat_delta_text
            try:
                for chunk in chunks:
                    delta = text_of(chunk)
                    if delta:
                        yield delta
                    if cancelled():
                        break
            finally:
                chunks.close()

    def _sampling(self) -> dict:
        config = self.config
        return {
            "temperature": config.temperature,
            "top_p": config.top_p,
            "repeat_penalty": config.repeat_penalty,
            "seed": config.seed,
        }

    def _continue(self, messages: list[Message], reply_start: str, max_tokens: int | None):
        """A completion of the assistant's message from ``reply_start`` on (lock held).

        The prompt is the one create_chat_completion renders, so its evaluated prefix is
        reused. A reply may open with a mark before its first word (the persona adapter opens
        every reply with a quotation mark): the model's own most likely first token is read,
        and a mark is kept ahead of ``reply_start``, or the model no longer knows where its
        reply stands and wanders.
        """
        render, turn_end, _ = self._template
        llama = self._llama
        prompt = render(messages=[{"role": m.role, "content": m.content} for m in messages]).prompt
        self._evaluate(llama.tokenize(prompt.encode(), add_bos=True, special=True))
        first = int(np.argmax(self._next_token_probs()))
        mark = llama.detokenize([first]).decode("utf-8", errors="ignore")
        if is_quote_mark(mark):
            prompt += mark
        stop = llama.detokenize([turn_end], special=True).decode("utf-8", errors="ignore")
        return llama.create_completion(
            prompt + reply_start,
            stream=True,
            max_tokens=max_tokens or self.config.max_reply_tokens,
            stop=[stop] if stop else None,
            **self._sampling(),
        )


def _completion_text(chunk: dict) -> str | None:
    return chunk["choices"][0]["text"]


def _chat_delta_text(chunk: dict) -> str | None:
    return chunk["choices"][0]["delta"].get("content")


def spoken_reply(
    llm: LanguageModel,
    system_prompt: str,
    chunking: ChunkerConfig,
    user_content: str,
    reply_start: str = "",
) -> list[str]:
    """Every piece a call would speak for one model reply, cut as the loop cuts the stream;
    ``reply_start`` (an acknowledgement) is said first and the model goes on from it."""
    chunker = Chunker(chunking)
    pieces = [reply_start] if reply_start else []
    messages = [Message("system", system_prompt), Message("user", user_content)]
    for delta in llm.stream(messages, reply_start=reply_start):
        pieces += chunker.feed(delta)
    return pieces + chunker.flush()
