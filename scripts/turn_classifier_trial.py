"""Would a classifier trained end to end read turns better than the turn reader?

The turn reader (``ceoline.voice.turn_reader``) is a logistic regression over the reply model's
next-token reading. This trial trains the other kind of reader the field uses: the base model
itself, with a LoRA and a two-class head on its last hidden state, fitted on the same caller
turns and cuts (``ceoline.admin.turn_training``) with the same split, and scored the same way
(ROC AUC on each part, statements alone, written and heard apart).

A cut is a prefix of its turn, and the model reads causally, so one forward pass over a turn
gives every cut's hidden state: an epoch over the 1,177 tune turns takes about 2 minutes on
two cores. Needs the train extra (``pip install -e '.[train]'``); writes nothing.

    python scripts/turn_classifier_trial.py --epochs 1 --rank 8 --learning-rate 3e-4
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import random
import time
import warnings
from pathlib import Path

import numpy as np

from ceoline.admin.turn_training import caller_turns, cuts
from ceoline.config import load_config
from ceoline.locator import locate
from ceoline.trust.dialogue import repair_question
from ceoline.voice.llm import closing_words
from ceoline.voice.word_rules import is_question

ROOT = Path(__file__).resolve().parent.parent
# How the chat template opens a caller's message: the words are read as a call reads them.
USER_HEAD = "<|im_start|>user\n"
LINEAR_LAYERS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Finished cuts are about one in six: weigh them up so the head does not learn "never".
FINISHED_WEIGHT = 3.0


def encode(tokenizer, turns):
    """Per turn: token ids, the position of each cut's last token, its label and its facts
    (finished, question, after a mark, held out, heard)."""
    head = tokenizer(USER_HEAD, add_special_tokens=False)["input_ids"]
    encoded, missed = [], 0
    for turn in turns:
        text = closing_words(turn.text)
        tokens = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        token_at = {end: i for i, (_, end) in enumerate(tokens["offset_mapping"])}
        question = is_question(repair_question(turn.text))
        positions, facts = [], []
        for cut in cuts(turn.text, turn.finished):
            if not text.startswith(cut.words) or len(cut.words) not in token_at:
                missed += 1  # the cut ends inside a token: no hidden state of its own
                continue
            positions.append(len(head) + token_at[len(cut.words)])
            facts.append((cut.finished, question, cut.at_mark, turn.split == "heldout", turn.heard))
        if positions:
            encoded.append((head + tokens["input_ids"], positions, facts))
    return encoded, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--batch", type=int, default=8, help="turns per step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from sklearn.metrics import roc_auc_score
    from transformers import AutoModelForCausalLM, AutoTokenizer

    warnings.filterwarnings("ignore")
    torch.manual_seed(args.seed)
    config = load_config(None)
    torch.set_num_threads(config.runtime.all_threads)
    base = locate("llm", config.models.llm, config.models_dir).path
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(base.parent, gguf_file=base.name)
        model = AutoModelForCausalLM.from_pretrained(
            base.parent, gguf_file=base.name, dtype=torch.float32
        )
    encoded, missed = encode(tokenizer, caller_turns(ROOT))
    lora = LoraConfig(
        r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.05, target_modules=LINEAR_LAYERS
    )
    model = get_peft_model(model, lora)
    decoder = model.base_model.model.model  # the transformer without its vocabulary head
    head = torch.nn.Linear(model.config.hidden_size, 1)
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    optimiser = torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=0.01)

    def logits(batch):
        width = max(len(ids) for ids, _, _ in batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for i, (row, _, _) in enumerate(batch):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        states = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
        rows = torch.cat([states[i, positions] for i, (_, positions, _) in enumerate(batch)])
        return head(rows).squeeze(-1)

    tune = [turn for turn in encoded if not turn[2][0][3]]
    steps = args.epochs * math.ceil(len(tune) / args.batch)
    started, step = time.perf_counter(), 0
    model.train()
    for epoch in range(args.epochs):
        random.Random(args.seed + epoch).shuffle(tune)
        for start in range(0, len(tune), args.batch):
            batch = tune[start : start + args.batch]
            decay = 0.5 * (1 + math.cos(math.pi * step / steps))
            for group in optimiser.param_groups:
                group["lr"] = args.learning_rate * min(1.0, (step + 1) / 20) * decay
            facts = [f for _, _, fs in batch for f in fs]
            # Cuts after a closing mark inside a turn are left out of training, as for the reader.
            keep = torch.tensor([not f[2] for f in facts])
            labels = torch.tensor([float(f[0]) for f in facts])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits(batch)[keep], labels[keep], pos_weight=torch.tensor(FINISHED_WEIGHT)
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            step += 1
    model.eval()
    p, facts = [], []
    with torch.no_grad():
        for start in range(0, len(encoded), 16):
            batch = encoded[start : start + 16]
            p += torch.sigmoid(logits(batch)).tolist()
            facts += [f for _, _, fs in batch for f in fs]
    p = np.array(p)
    finished, question, at_mark, heldout, heard = np.array(facts, dtype=bool).T

    def auc(mask) -> float:
        return round(float(roc_auc_score(finished[mask], p[mask])), 4)

    report = {"settings": vars(args), "cuts": len(p), "cuts_inside_a_token": missed}
    for part, mask in (("tune", ~heldout), ("heldout", heldout)):
        plain = mask & ~at_mark
        report[part] = {
            "auc": auc(plain),
            "statements_auc": auc(plain & ~question),
            "written_statements_auc": auc(plain & ~question & ~heard),
            "heard_statements_auc": auc(plain & ~question & heard),
            "questions_auc": auc(plain & question),
        }
    report["seconds"] = round(time.perf_counter() - started)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
