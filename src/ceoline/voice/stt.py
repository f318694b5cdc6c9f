"""Speech to text: faster-whisper (CTranslate2) over a finished caller turn."""

from __future__ import annotations

import re
import threading
import time
import zlib
from dataclasses import dataclass

import numpy as np

from ceoline.config import RuntimeConfig, SttConfig
from ceoline.errors import ModelError
from ceoline.locator import ModelFiles
from ceoline.voice.audio import SAMPLE_RATE, to_float


@dataclass(frozen=True)
class Transcript:
    text: str
    duration_s: float
    elapsed_ms: float
    # Whisper's mean token log-probability (of its least sure segment): near 0 for clear
    # words, below -1 where it was guessing (noise, an echo's residue, a filled-in mumble).
    avg_logprob: float = 0.0

    @property
    def unsure(self) -> bool:
        return bool(self.text) and self.avg_logprob < UNSURE_LOGPROB


# faster-whisper's own line between words and guesses (its log_prob_threshold).
UNSURE_LOGPROB = -1.0


def compute_type_for(config: SttConfig, device: str) -> str:
    if config.compute_type != "auto":
        return config.compute_type
    return "float16" if device == "cuda" else "int8"


def whisper_options(model: ModelFiles, config: SttConfig, runtime: RuntimeConfig) -> dict:
    return {
        "model_size_or_path": str(model.path),
        "device": runtime.device,
        "compute_type": compute_type_for(config, runtime.device),
        "cpu_threads": runtime.stage_threads,
        "num_workers": 1,
        "local_files_only": True,
    }


def echoes_prompt(text: str, hotwords: str) -> bool:
    """``text`` is two or more of the prompt's names and nothing else ("Hjälp EU Göteborg
    Järntorgsgatan"): Whisper reading back its hotwords, not a caller naming them."""
    said = re.findall(r"\w+", text.lower())
    names = set(re.findall(r"\w+", hotwords.lower()))
    return len(said) >= 2 and all(word in names for word in said)


class Transcriber:
    """One shared Whisper model; calls are serialised because CTranslate2 runs one at a time
    per worker anyway, and queuing here keeps the per-turn timing honest."""

    def __init__(self, model: ModelFiles, config: SttConfig, runtime: RuntimeConfig):
        from faster_whisper import WhisperModel

        self.config = config
        try:
            self._model = WhisperModel(**whisper_options(model, config, runtime))
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"cannot load speech-to-text model {model.path} ({str(exc).splitlines()[0]}); "
                "check the file is an intact CTranslate2 Whisper model and [runtime] device"
            ) from None
        self._lock = threading.Lock()
        self.window_s = config.window_s
        self._tokenizers: dict[str, object] = {}

    def knows_whole(self, word: str) -> bool:
        """Does Whisper write ``word`` after a space as one token? Then it is a word it knows
        ("portable", "Madrid"), not one it pieced together from sounds ("Wilfern")."""
        return len(self._model.hf_tokenizer.encode(" " + word, add_special_tokens=False).ids) == 1

    @property
    def multilingual(self) -> bool:
        """Does this Whisper hear other languages than English (base does, tiny.en not)?"""
        return bool(self._model.model.is_multilingual)

    def _tokenizer(self, language: str):
        if language not in self._tokenizers:
            from faster_whisper.tokenizer import Tokenizer

            self._tokenizers[language] = Tokenizer(
                self._model.hf_tokenizer, self.multilingual, task="transcribe", language=language
            )
        return self._tokenizers[language]

    def transcribe(
        self, pcm: bytes | np.ndarray, hotwords: str | None = None, language: str | None = None
    ) -> Transcript:
        """``hotwords``: names Whisper should expect, and ``language`` what it hears ([stt]
        language when None): a line's (see ``Engines.on_line``)."""
        language = language or self.config.language
        samples = np.frombuffer(pcm, dtype=np.int16) if isinstance(pcm, bytes) else pcm
        audio = to_float(samples)
        started = time.perf_counter()
        with self._lock:
            text, logprob = self._decode(audio, hotwords, language)
            if hotwords and echoes_prompt(text, hotwords):
                # Whisper wrote out its prompt instead of what it heard (unclear audio, a
                # language it hears poorly): that is no caller's words, so hear it again bare.
                text, logprob = self._decode(audio, None, language)
        return Transcript(
            text=text,
            duration_s=len(samples) / SAMPLE_RATE,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            avg_logprob=logprob,
        )

    def _decode(self, audio: np.ndarray, hotwords: str | None, language: str) -> tuple[str, float]:
        text, logprob = self._in_short_window(audio, hotwords, language)
        if text is None:
            segments, _info = self._model.transcribe(
                audio,
                language=language,
                beam_size=self.config.beam_size,
                without_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
                no_speech_threshold=self.config.no_speech_threshold,
                hotwords=hotwords,
            )
            segments = [seg for seg in segments if seg.text.strip()]
            text = " ".join(seg.text.strip() for seg in segments).strip()
            logprob = min((seg.avg_logprob for seg in segments), default=0.0)
        return text, logprob

    def _in_short_window(
        self, audio: np.ndarray, hotwords: str | None, language: str | None = None
    ) -> tuple[str | None, float]:
        """The transcript from a ``[stt] window_s`` encoder window and its mean log-probability;
        None when the turn is too long for it or the decoder ran away (a transcript that
        repeats itself), so the caller gets faster-whisper's full 30 s pass instead."""
        window = self.window_s * SAMPLE_RATE
        if not window or len(audio) > window - WINDOW_TAIL_S * SAMPLE_RATE:
            return None, 0.0
        model = self._model
        padded = np.zeros(window, dtype=np.float32)
        padded[: len(audio)] = audio
        frames = window // model.feature_extractor.hop_length
        features = model.feature_extractor(padded)[:, :frames]
        encoded = model.encode(features)
        tokenizer = self._tokenizer(language or self.config.language)
        prompt = model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=hotwords)
        # A turn says at most ~4 tokens a second; twice that bounds a decoder that loops.
        most = len(prompt) + int(len(audio) / SAMPLE_RATE * 8) + 8
        (result,) = model.model.generate(
            encoded,
            [prompt],
            beam_size=self.config.beam_size,
            max_length=min(most, model.max_length),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = tokenizer.decode(tokens).strip()
        # faster-whisper's silence rule (probably no speech, and not confidently words), and
        # the "you" Whisper makes of near-silence in a short window.
        average_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1) if tokens else 0.0
        unsure = average_logprob < UNSURE_LOGPROB or len(tokens) <= 2
        if result.no_speech_prob > self.config.no_speech_threshold and unsure:
            return "", 0.0
        # An unsure or looping decode is where faster-whisper would retry at higher
        # temperatures: its full pass does that.
        if average_logprob < UNSURE_LOGPROB or (text and _compression_ratio(text) > 2.4):
            return None, 0.0
        return text, average_logprob


# Whisper needs silence after the last word in its window, or it drops or invents the end.
WINDOW_TAIL_S = 2


def _compression_ratio(text: str) -> float:
    """How well the text compresses: above ~2.4 it repeats itself (Whisper's own test)."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw))
