"""Human handoff over real SIP: a spoken request answered by REFER, DTMF 0, a failed transfer."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from ..sip_support import (
    CEOLINE,
    LOOPBACK,
    ROOT,
    calls_with_prefix,
    dial,
    free_port,
    run_sipp,
    start_server,
)

pytestmark = pytest.mark.models

ASK_FOR_PERSON = "Can I talk to a real person, please?"


def spoken_ulaw(text: str, path, tmp_path):
    """``text`` in the embedded Piper voice, as the 8 kHz mu-law WAV SIPp streams."""
    import soundfile

    from ceoline.voice.audio import SAMPLE_RATE, read_wav, resample

    wav = tmp_path / "spoken.wav"
    subprocess.run(
        [*CEOLINE, "say", text, "--out", str(wav)], check=True, cwd=ROOT, capture_output=True
    )
    pcm = read_wav(wav)
    padded = resample(pcm, SAMPLE_RATE, 8000) / 32768.0
    soundfile.write(str(path), padded, 8000, format="WAV", subtype="ULAW")
    return path


def test_asking_for_a_person_is_answered_with_refer(tmp_path):
    target = f"sip:support@{LOOPBACK}:{free_port()}"
    server = start_server(tmp_path / "srv", handoff={"uri": target})
    try:
        spoken_ulaw(ASK_FOR_PERSON, tmp_path / "handoff-ulaw.wav", tmp_path)
        run = run_sipp(
            "refer",
            tmp_path,
            "refer",
            server.target,
            timeout_s=60,
            variables={"media_ip_expected": LOOPBACK},
        )
        assert run.returncode == 0, run.report() + server.log()[-3000:]
        call = calls_with_prefix(server, run.call_id_prefix, 1)[0]
        assert call["end_reason"] == "transferred"
        [escalation] = call["escalations"]
        assert escalation["reason"] == "caller_request"
        assert escalation["outcome"] == "transferred" and escalation["detail"].startswith("200")
        bot = [t["text"] for t in call["turns"] if t["role"] == "bot"]
        assert any("transferring you to a person" in t for t in bot)
        assert f"to={target}" in server.log() or "event=call.transfer " in server.log()
    finally:
        server.stop()


def test_dtmf_zero_with_an_unreachable_person_takes_a_message(tmp_path):
    # The caller (pjsua2) accepts the REFER and calls the target, which does not answer:
    # the NOTIFY reports the failure and the bot offers to take a message.
    # Over TCP the refused connection fails the transfer at once (UDP would wait 32 s).
    dead = f"sip:support@{LOOPBACK}:{free_port()};transport=tcp"
    server = start_server(tmp_path / "srv", handoff={"uri": dead})
    try:
        done = dial(server, "--dtmf", "0", "--hold", "12", timeout=90)
        result = json.loads(done.stdout)
        assert result["connected"] and result["transferred_to"] == dead, done.stderr
        call = server.wait_for_calls(1)[0]
        [escalation] = call["escalations"]
        assert escalation["reason"] == "dtmf"
        assert escalation["outcome"] == "refer_failed", escalation
        bot = [t["text"] for t in call["turns"] if t["role"] == "bot"]
        assert any("take a message" in t for t in bot), bot
    finally:
        server.stop()


def test_without_a_handoff_uri_the_bot_takes_a_message_for_a_callback(tmp_path):
    server = start_server(tmp_path / "srv")
    try:
        done = dial(server, "--dtmf", "0", "--hold", "12", timeout=60)
        assert json.loads(done.stdout)["connected"], done.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            call = server.wait_for_calls(1)[0]
            if call["escalations"]:
                break
            time.sleep(0.2)
        [escalation] = call["escalations"]
        assert (escalation["reason"], escalation["outcome"]) == ("dtmf", "message_offered")
        assert [e["detail"] for e in call["events"] if e["kind"] == "dtmf"] == ["0"]
    finally:
        server.stop()
