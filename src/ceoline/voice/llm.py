"""The language model: llama.cpp with the persona system prompt, streaming text deltas."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ceoline.config import ChunkerConfig, LlmConfig, RuntimeConfig
from ceoline.errors import ModelError
from ceoline.locator import ModelFiles
from ceoline.voice.chunker import Chunker


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


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

    @property
    def llama(self):
        """The llama.cpp handle, for scoring text (see :mod:`ceoline.persona.evaluation`)."""
        return self._llama

    def warm(self, system_prompt: str) -> None:
        """Evaluate the system prompt once so the first caller's first token comes quickly."""
        for _ in self.stream(
            [Message("system", system_prompt), Message("user", "Hi")], max_tokens=1
        ):
            pass

    def stream(
        self,
        messages: list[Message],
        max_tokens: int | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Iterator[str]:
        """Yield text deltas; stop early (between tokens) once ``cancelled()`` is true."""
        with self._lock:
            chunks = self._llama.create_chat_completion(
                [{"role": m.role, "content": m.content} for m in messages],
                stream=True,
                max_tokens=max_tokens or self.config.max_reply_tokens,
                temperature=self.config.temperature,
                top_p=self.config.top_p,
                repeat_penalty=self.config.repeat_penalty,
                seed=self.config.seed,
            )
            try:
                for chunk in chunks:
                    delta = chunk["choices"][0]["delta"].get("content")
                    if delta:
                        yield delta
                    if cancelled():
                        break
            finally:
                chunks.close()


def spoken_reply(
    llm: LanguageModel, system_prompt: str, chunking: ChunkerConfig, user_content: str
) -> list[str]:
    """Every piece a call would speak for one model reply, cut as the loop cuts the stream."""
    chunker = Chunker(chunking)
    pieces = []
    for delta in llm.stream([Message("system", system_prompt), Message("user", user_content)]):
        pieces += chunker.feed(delta)
    return pieces + chunker.flush()
