"""Train the persona LoRA on the base GGUF and export it as a llama.cpp adapter.

transformers loads the quantized GGUF by dequantizing it to float32, so the adapter learns
against (a close copy of) the very weights llama.cpp serves. Loss is taken on the CEO's
replies only, never on the system prompt or the caller's words. Needs ``pip install .[train]``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ceoline.config import Config, PersonaTrainConfig
from ceoline.errors import CeolineError
from ceoline.locator import locate, sha256_file
from ceoline.persona.corpus import Example, chat_messages, load_examples, notes_for
from ceoline.persona.profile import Persona
from ceoline.trust.knowledge import open_knowledge

log = logging.getLogger(__name__)

# Warm-up steps: the first updates of a fresh LoRA are the noisiest.
WARMUP_STEPS = 10
MAX_GRAD_NORM = 1.0


@dataclass(frozen=True)
class TrainReport:
    out: Path
    examples: int
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    sha256: str
    base_sha256: str


def _require_training_libraries() -> None:
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise CeolineError(
            f"persona training needs the train extra ({exc.name} is missing); run "
            "`make persona` or `pip install -e '.[train]'`"
        ) from None


def _encode(
    tokenizer,
    persona: Persona,
    example: Example,
    notes: tuple[str, ...],
    max_tokens: int,
    source: Path,
):
    """Token ids and labels; labels are -100 (ignored) up to where the reply starts."""
    prompt = [
        {"role": m.role, "content": m.content}
        for m in chat_messages(persona, example.prompt, notes=notes)
    ]
    whole = [
        {"role": m.role, "content": m.content}
        for m in chat_messages(persona, example.prompt, example.reply, notes)
    ]
    head = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(whole, tokenize=False)
    if not full.startswith(head):
        raise CeolineError(
            "the base model's chat template does not render the prompt as a prefix of the "
            "whole exchange; this base cannot be trained here"
        )
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    if ids[: len(head_ids)] != head_ids:
        ids = head_ids + tokenizer(full[len(head) :], add_special_tokens=False)["input_ids"]
    if len(ids) > max_tokens:
        raise CeolineError(
            f"{source}:{example.line}: example is {len(ids)} tokens, over "
            f"[persona.train] max_tokens = {max_tokens}; shorten it or raise the limit"
        )
    labels = [-100] * len(head_ids) + ids[len(head_ids) :]
    return ids, labels


def _lr_at(step: int, total: int, peak: float) -> float:
    if step < WARMUP_STEPS:
        return peak * (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def train(
    config: Config,
    persona: Persona,
    corpus: Path,
    out: Path,
    *,
    settings: PersonaTrainConfig | None = None,
    max_steps: int | None = None,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainReport:
    """Train on ``corpus`` and write the adapter to ``out`` (atomically)."""
    _require_training_libraries()
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ceoline.persona.lora_gguf import export_lora

    s = settings or config.persona.train
    examples = load_examples(corpus)
    base = locate("llm", config.models.llm, config.models_dir).path
    started = time.perf_counter()
    random.seed(s.seed)
    torch.manual_seed(s.seed)
    torch.set_num_threads(config.runtime.all_threads)
    # Our own bar shows the training; the libraries' load bars and hints are noise here.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", module=r"(peft|transformers|torch)\.")
    try:
        # transformers' GGUF loader draws its own bar, which no switch turns off.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(base.parent, gguf_file=base.name)
            model = AutoModelForCausalLM.from_pretrained(
                base.parent, gguf_file=base.name, dtype=torch.float32
            )
    except (ValueError, OSError, KeyError) as exc:
        raise CeolineError(
            f"cannot load {base} for training ({str(exc).splitlines()[0]}); transformers must "
            "support its architecture and quantization"
        ) from None
    knowledge = open_knowledge(config)
    encoded = [
        _encode(
            tokenizer,
            persona,
            ex,
            notes_for(config, persona, knowledge, ex.prompt),
            s.max_tokens,
            corpus,
        )
        for ex in examples
    ]
    linear = sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, mod in model.named_modules()
            if type(mod).__name__ == "Linear"
        }
    )
    unknown = [m for m in s.target_modules if m not in linear]
    if unknown:
        raise CeolineError(
            f"[persona.train] target_modules: '{unknown[0]}' is not a linear layer of this base; "
            f"choose from {', '.join(linear)}"
        )
    lora = LoraConfig(
        r=s.rank,
        lora_alpha=s.alpha,
        lora_dropout=s.dropout,
        target_modules=list(s.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=0.0)
    total = s.epochs * len(encoded)
    if max_steps is not None:
        total = min(total, max_steps)
    order = []
    rng = random.Random(s.seed)
    for _ in range(s.epochs):
        epoch = list(range(len(encoded)))
        rng.shuffle(epoch)
        order += epoch
    losses: list[float] = []
    bar = tqdm(order[:total], desc="persona LoRA", unit="ex", disable=not progress)
    for step, index in enumerate(bar):
        ids, labels = encoded[index]
        for group in optimiser.param_groups:
            group["lr"] = _lr_at(step, total, s.learning_rate)
        result = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
        result.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        losses.append(float(result.loss))
        window = losses[-len(encoded) :][-50:]
        bar.set_postfix(loss=f"{sum(window) / len(window):.3f}")
        if on_step is not None:
            on_step(step, losses[-1])
    bar.close()
    state = {k: v.detach().float() for k, v in get_peft_model_state_dict(model).items()}
    exported = export_lora(
        out,
        state,
        base_gguf=base,
        alpha=s.alpha,
        # Half precision: the shipped adapter stays small, and rank-8 deltas lose nothing.
        dtype="f16",
        extra={
            "rank": s.rank,
            "target_modules": ",".join(s.target_modules),
            "epochs": s.epochs,
            "learning_rate": s.learning_rate,
            "seed": s.seed,
            "examples": len(encoded),
            "steps": total,
            "corpus_sha256": sha256_file(corpus),
        },
    )
    head = max(1, min(len(losses), len(encoded)) // 5)
    return TrainReport(
        out=out,
        examples=len(encoded),
        steps=total,
        seconds=time.perf_counter() - started,
        first_loss=sum(losses[:head]) / head,
        last_loss=sum(losses[-head:]) / head,
        sha256=sha256_file(out),
        base_sha256=exported.base_sha256,
    )
