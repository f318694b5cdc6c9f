"""`ceoline persona eval`: the shipped adapter against its base, on held-out prompts."""

import json

import pytest

from ceoline.persona.evaluation import style_scores

from ..cli_support import run_cli
from ..conftest import DATA, make_config


def test_style_counts_signature_phrases_first_person_length_and_plain_speech(persona):
    answers = [
        "Honestly, that's on us and I'll make sure the team hears this today.",
        "The product is a set of features for the customers of the company.",
        "1. Invoices\n2. Payments",
        "Yes.",
    ]
    style = style_scores(answers, persona)
    assert style["signature_phrase"] == 0.25
    assert style["first_person"] == 0.25
    assert style["spoken_length"] == 0.5
    assert style["plain"] == 0.75
    assert style["score"] == pytest.approx((0.25 + 0.25 + 0.5 + 0.75) / 4)


def test_doctor_pins_and_fits_the_shipped_adapter(tmp_path):
    done = run_cli("doctor", config=make_config(tmp_path))
    lines = done.stdout.splitlines()
    assert any("model adapter" in line and "sha256 ok" in line for line in lines), done.stdout
    assert any("adapter fit" in line and "persona-lora.gguf" in line for line in lines)


@pytest.mark.models
def test_persona_eval_on_a_slice_shows_the_adapter_helps(tmp_path):
    cases = tmp_path / "guardrails.jsonl"
    # A slice of the guardrail set: a refusal, an injection and an ordinary question.
    rows = [json.loads(line) for line in (DATA / "guardrails.jsonl").read_text().splitlines()]
    picked = [r for r in rows if r["expect"] == "allow"][:2] + [
        r for r in rows if r["expect"] != "allow"
    ][:3]
    cases.write_text("".join(json.dumps(r) + "\n" for r in picked))
    done = run_cli(
        "persona", "eval", "--limit", "6", "--guardrails", cases, "--json",
        config=make_config(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["examples"] == 6
    assert report["adapter"]["nll"] < report["base"]["nll"]
    assert report["nll_improved"] and report["guardrails_held"]
    assert report["adapter"]["guardrail_pass_rate"] >= report["base"]["guardrail_pass_rate"]
    assert set(report["adapter"]["style"]) >= {"signature_phrase", "first_person", "score"}
    assert report["samples"] and all(s["adapter"] for s in report["samples"])


def test_persona_eval_without_an_adapter_says_so(tmp_path):
    done = run_cli("persona", "eval", config=make_config(tmp_path, models={"adapter": ""}))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: [models] adapter")
