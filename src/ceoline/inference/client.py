"""The reply model a call uses when the model runs in the shared service: the same methods as
the local ``voice.llm.LanguageModel``, over HTTP to llama-server on loopback.

- Prompts are rendered with the GGUF's own chat template and tokenized here, from a
  vocabulary-only load of the same file (a few MB, no weights), and sent as token ids: the
  service evaluates exactly the tokens the local model would, so its end-of-turn reading and
  its prompt cache match.
- A streamed reply is read token by token; a reply cut by the caller closes the connection,
  and llama-server stops generating that slot at once.
- The end-of-turn reading asks for the next token's probabilities (``n_probs``) after the
  caller's words, and after each closing mark that is likely at all.
- The service may be down (restarting): every request fails fast (``connect_timeout_ms``)
  with :class:`ServiceUnavailable`, logged once per outage, and the call goes on with fixed
  lines and the notes' answers until a request succeeds again.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator

from ceoline.config import InferenceConfig, LlmConfig
from ceoline.errors import ModelError, ModelUnavailable
from ceoline.locator import ModelFiles
from ceoline.voice.llm import (
    CLOSER_FLOOR,
    TOP_TOKENS,
    EndReading,
    Message,
    chat_template,
    closing_words,
    is_quote_mark,
    prompt_head,
    single_token,
    token_piece,
)

log = logging.getLogger("ceoline.inference")

HOST = "127.0.0.1"
# Probabilities returned per token: the end-of-message token outside the top 32 is below
# the 32nd's probability, which no turn threshold is near.
N_PROBS = TOP_TOKENS
# What llama-server answers while it loads its model (after a restart): an outage still.
LOADING = 503
# Waiting for the next token of a reply while other slots batch with it.
READ_TIMEOUT_S = 10


class ServiceUnavailable(ModelUnavailable):
    """The inference service did not answer (down, restarting, or overloaded)."""


class SharedLanguageModel:
    def __init__(self, model: ModelFiles, config: LlmConfig, inference: InferenceConfig):
        from llama_cpp import Llama

        self.config = config
        self.inference = inference
        self.model_files = model
        self.adapter = None  # the service applies it, when it applies one
        try:
            self._vocab = Llama(model_path=str(model.path), vocab_only=True, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"cannot read the vocabulary of {model.path} ({str(exc).splitlines()[0]})"
            ) from None
        self._template = chat_template(self._vocab)
        self._down_since: float | None = None
        self._state_lock = threading.Lock()
        self.requests = 0
        self.failures = 0
        self._writing = 0  # this worker's replies being streamed now

    # -- availability -----------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._down_since is None

    def _failed(self, exc: Exception) -> ServiceUnavailable:
        with self._state_lock:
            self.failures += 1
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
        if first:
            log.warning(
                "event=inference.unreachable url=http://%s:%d error=%s: calls go on with fixed "
                "lines and the notes' answers",
                HOST,
                self.inference.port,
                type(exc).__name__,
            )
        return ServiceUnavailable(f"inference service unreachable ({type(exc).__name__})")

    def _answered(self) -> None:
        with self._state_lock:
            self.requests += 1
            since, self._down_since = self._down_since, None
        if since is not None:
            log.info("event=inference.back after_s=%.1f", time.monotonic() - since)

    # -- HTTP -------------------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(
            HOST, self.inference.port, timeout=self.inference.connect_timeout_ms / 1000
        )
        conn.connect()
        conn.sock.settimeout(READ_TIMEOUT_S)
        return conn

    def _open(self, body: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """POST ``body`` to /completion: the open connection and its response's head, or
        ServiceUnavailable (the connection closed) when the service did not answer."""
        conn = None
        try:
            conn = self._connect()
            conn.request(
                "POST", "/completion", json.dumps(body), {"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            if response.status == LOADING:
                raise http.client.HTTPException("the service is loading its model")
        except (OSError, http.client.HTTPException) as exc:
            if conn is not None:
                conn.close()
            raise self._failed(exc) from None
        self._answered()
        return conn, response

    def _post(self, body: dict) -> dict:
        conn, response = self._open(body)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._failed(exc) from None
        finally:
            conn.close()
        return _answer(response.status, data)

    def _tokens(self, text: str) -> list[int]:
        return self._vocab.tokenize(text.encode(), add_bos=True, special=True)

    # -- what a call asks of its reply model --------------------------------------------------

    def single_token(self, text: str) -> int | None:
        return single_token(self._vocab, text)

    def token_piece(self, token: int) -> str:
        return token_piece(self._vocab, token)

    def warm(self, system_prompt: str) -> None:
        """Have every slot evaluate the persona prompt once, so no caller's first turn waits
        for it whichever slot takes the turn."""
        head = prompt_head(self._template, [Message("system", system_prompt)])
        if head is None:
            return
        tokens = self._tokens(head)
        try:
            for slot in range(self.inference.parallel):
                self._post({"prompt": tokens, "n_predict": 1, "temperature": -1, "id_slot": slot})
        except ServiceUnavailable:
            pass  # logged; the first turns evaluate it instead

    def prefill(self, context: list[Message]) -> bool:
        """Have a slot evaluate the prompt up to the caller's next words while the caller
        still talks; False when it could not. Skipped while one of this worker's replies is
        being written, as the local model skips it: the service would batch it with the
        reply and slow the reply's tokens."""
        head = prompt_head(self._template, context)
        if head is None or self._writing:
            return False
        try:
            self._post({"prompt": self._tokens(head), "n_predict": 1, "temperature": -1})
        except ServiceUnavailable:
            return False
        return True

    def end_of_turn(self, context: list[Message], words: str) -> float | None:
        """P(the caller's message ends after ``words``), read as the local model reads it."""
        reading = self.read_end(context, words)
        return None if reading is None else reading.p_end

    def read_end(self, context: list[Message], words: str) -> EndReading | None:
        """The next-token distribution after ``words``, as ``LanguageModel.read_end``."""
        head = prompt_head(self._template, context)
        if head is None:
            return None
        _, turn_end, closers = self._template
        words = closing_words(words)
        if not words:
            return EndReading(turn_end, {}, {})
        tokens = self._tokens(head + words)
        top = self._next_token_probs(tokens)
        after_closers = {
            closer: self._next_token_probs([*tokens, closer]).get(turn_end, 0.0)
            for closer in closers
            if top.get(closer, 0.0) >= CLOSER_FLOOR
        }
        return EndReading(turn_end, top, after_closers)

    def _next_token_probs(self, tokens: list[int]) -> dict[int, float]:
        answer = self._post(
            {"prompt": tokens, "n_predict": 1, "n_probs": N_PROBS, "temperature": -1}
        )
        top = answer["completion_probabilities"][0]["top_logprobs"]
        return {int(t["id"]): math.exp(float(t["logprob"])) for t in top}

    def stream(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        reply_start: str = "",
    ) -> Iterator[str]:
        """Yield text deltas; once ``cancelled()`` is true the connection is closed and the
        service stops writing. ``reply_start`` as for the local model."""
        if self._template is None:
            raise ModelError(f"{self.model_files.path.name} has no chat template")
        render, turn_end, _ = self._template
        prompt = render(messages=[{"role": m.role, "content": m.content} for m in messages]).prompt
        if reply_start:
            first = self._post(
                {"prompt": self._tokens(prompt), "n_predict": 1, "n_probs": 1, "temperature": -1}
            )
            mark = first["completion_probabilities"][0]["top_logprobs"][0]["token"]
            if is_quote_mark(mark):
                prompt += mark
            prompt += reply_start
        stop = self._vocab.detokenize([turn_end], special=True).decode("utf-8", errors="ignore")
        body = {
            "prompt": self._tokens(prompt),
            "stream": True,
            "n_predict": max_tokens or self.config.max_reply_tokens,
            "stop": [stop] if stop else [],
            "temperature": self.config.temperature,
            "top_p": self.config.top_p,
            "repeat_penalty": self.config.repeat_penalty,
            "seed": self.config.seed,
            "cache_prompt": True,
        }
        yield from self._stream(body, cancelled)

    def _stream(self, body: dict, cancelled: Callable[[], bool]) -> Iterator[str]:
        conn = None
        with self._state_lock:
            self._writing += 1
        try:
            conn, response = self._open(body)
            if response.status != 200:
                _answer(response.status, response.read())
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException) as exc:
                    raise self._failed(exc) from None
                if not line:
                    return
                if not line.startswith(b"data: "):
                    continue
                try:
                    event = json.loads(line[6:])
                except ValueError:
                    continue
                delta = event.get("content")
                if delta:
                    yield delta
                if event.get("stop") or cancelled():
                    return
        finally:
            with self._state_lock:
                self._writing -= 1
            if conn is not None:
                conn.close()  # a cut reply: llama-server sees the closed stream and stops


def _answer(status: int, data: bytes) -> dict:
    """The service's JSON answer. A refusal (a prompt past the slot's context, a bad request)
    is the request's fault, not an outage: a ModelError, and the service stays up."""
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict):
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        detail = error.get("message") if isinstance(error, dict) else None
        raise ModelError(f"inference service refused the request (HTTP {status}): {detail}")
    return answer
