"""Speech recognition with faster-whisper (CTranslate2), on the packaged Whisper base by default.

Imported through the registry: a missing ``asr`` extra surfaces there as a one-line install hint.

One model is loaded lazily and reused. Loading and every inference run on one single-worker
executor, so calls never overlap and the event loop never blocks.

Decoding is bounded by the audio's length: one decode (no temperature fallback) of at most
``max_tokens_per_s`` tokens per second of audio, plus a few, so a two-second clip that sends Whisper
into a repetition loop ("的的的…", 224 tokens uncapped) stops after a few dozen tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import ctranslate2
import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Segment

from localvoice.backends.asr.chinese import (
    SegmentScore,
    is_hallucination,
    strip_prompt_echo,
    tidy_chinese,
)
from localvoice.backends.asr.encoder_reuse import EncoderReuse
from localvoice.backends.asr.encoder_window import FRAMES_PER_S, FULL_FRAMES, EncoderWindow
from localvoice.backends.asr.languages import check_languages, pick_language
from localvoice.errors import BackendError, BadInputError, ConfigError
from localvoice.events import INPUT_RATE_HZ, AudioClip, Transcript, TranscriptSegment

if TYPE_CHECKING:
    from localvoice.config import ASRConfig

# Below this peak level the clip is silence: the model is not run at all (it would only invent text).
SILENCE_PEAK_DBFS = -55.0
# Below this RMS level, subtitle-credit phrases are treated as invented whatever the model says.
QUIET_RMS_DBFS = -45.0
# Below this, an early guess from part of an utterance is not trusted: the full clip is detected again.
MIN_LANGUAGE_PROBABILITY = 0.6
# Chinese text is written without spaces between segments.
_NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "yue"})
# Tokens allowed on top of the per-second budget: timestamps and the end of a very short clip.
TOKEN_ALLOWANCE = 8
# Whisper's decoder holds 448 tokens, a few of which are the start-of-transcript prompt.
_MAX_NEW_TOKENS = 440
_WINDOW_S = 30.0  # the cap applies per 30 s window
# Whisper re-decodes at rising temperatures (0.2 … 1.0) when a result looks repetitive or unsure: up to
# six decodes, ~10 s for a 1.5 s clip here. With beam 5 it changed no error on human Mandarin
# (BENCHMARKS.md), so one decode it is: the time stays bounded by the token cap.
TEMPERATURES = (0.0,)


def _dbfs(value: float) -> float:
    return 20.0 * math.log10(max(value, 1e-10))


class FasterWhisperASR:
    """The ASR protocol on faster-whisper; ``model_dir=None`` means the packaged Whisper base."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        language: str | None = None,
        device: str = "auto",
        compute_type: str = "auto",
        languages: tuple[str, ...] = ("zh", "en"),
        beam_size: int = 5,
        cpu_threads: int = 0,
        max_tokens_per_s: float = 12.0,
        encoder_window_s: float = 10.0,
    ) -> None:
        if device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"asr.device must be auto, cpu or cuda, got {device!r}")
        if beam_size < 1:
            raise ConfigError(f"asr.beam_size must be at least 1, got {beam_size}")
        if max_tokens_per_s <= 0:
            raise ConfigError(f"asr.max_tokens_per_s must be above 0, got {max_tokens_per_s}")
        self._model_dir = model_dir
        self._language = language or None
        self._languages = tuple(languages)
        self._max_tokens_per_s = max_tokens_per_s
        if not 0 < encoder_window_s <= 30:
            raise ConfigError(f"asr.encoder_window_s must be above 0 and at most 30, got {encoder_window_s}")
        self._encoder_window_s = encoder_window_s
        self.window: EncoderWindow | None = None
        self._device = device
        self._compute_type = compute_type
        self._beam_size = beam_size
        self._cpu_threads = cpu_threads if cpu_threads > 0 else (os.cpu_count() or 1)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        self._model: WhisperModel | None = None
        self._reuse: EncoderReuse | None = None
        self.load_time_s: float | None = None
        self.device_used: str | None = None

    @classmethod
    def from_config(cls, asr: ASRConfig) -> Self:
        """Built from its own config section only; it reads nothing from the environment."""
        model_dir: Path | None = None
        if asr.model:
            model_dir = Path(asr.model).expanduser()
            if not (model_dir / "model.bin").is_file():
                raise ConfigError(
                    f"asr.model {asr.model!r} is not a faster-whisper model folder (no model.bin); "
                    "leave it empty to use the packaged Whisper base"
                )
        return cls(
            model_dir,
            language=asr.language,
            languages=tuple(asr.languages),
            device=asr.device,
            compute_type=asr.compute_type,
            beam_size=asr.beam_size,
            cpu_threads=asr.cpu_threads,
            max_tokens_per_s=asr.max_tokens_per_s,
            encoder_window_s=asr.encoder_window_s,
        )

    async def warm_up(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._ensure_loaded)

    async def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        samples = _to_float32_16k(audio)
        lang = language or self._language
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._transcribe_sync, samples, lang, audio.duration_s
        )

    async def detect_language(self, audio: AudioClip) -> str | None:
        samples = _to_float32_16k(audio)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._detect_sync, samples)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._model = None

    # ---- runs on the executor thread ----

    def _ensure_loaded(self) -> WhisperModel:
        if self._model is not None:
            return self._model
        model_dir = self._model_dir
        if model_dir is None:
            from localvoice.models.packaged import ensure_model

            model_dir = ensure_model("whisper-base")
        device = self._device
        if device == "auto":
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        compute_type = self._compute_type
        if compute_type == "auto":
            compute_type = "float16" if device == "cuda" else "int8"
        start = time.perf_counter()
        try:
            model = WhisperModel(
                str(model_dir),
                device=device,
                compute_type=compute_type,
                cpu_threads=self._cpu_threads,
                local_files_only=True,  # never reach for a model hub
            )
        except (RuntimeError, ValueError) as error:
            raise BackendError(
                f"could not load the Whisper model from {model_dir} on {device}/{compute_type}: {error}; "
                "check asr.device and asr.compute_type (cpu/int8 works everywhere)"
            ) from None
        self.load_time_s = time.perf_counter() - start
        complaint = check_languages(self._languages, model.supported_languages)
        if complaint is not None:
            raise ConfigError(complaint)
        self.device_used = device
        self._model = model
        if self._encoder_window_s * FRAMES_PER_S < FULL_FRAMES:
            self.window = EncoderWindow(model, self._encoder_window_s)
        self._reuse = EncoderReuse(model)  # outermost: a reused pass skips the encoder entirely
        return model

    def _token_cap(self, duration_s: float) -> int:
        """New tokens allowed per 30 s window: a budget per second of audio, plus a little."""
        seconds = min(duration_s, _WINDOW_S)
        return min(_MAX_NEW_TOKENS, math.ceil(seconds * self._max_tokens_per_s) + TOKEN_ALLOWANCE)

    def _run(self, model: WhisperModel, samples: npt.NDArray[np.float32], language: str) -> Iterable[Segment]:
        segments: Iterable[Segment]
        segments, _info = model.transcribe(
            samples,
            language=language,
            beam_size=self._beam_size,
            temperature=list(TEMPERATURES),
            max_new_tokens=self._token_cap(samples.size / INPUT_RATE_HZ),
            condition_on_previous_text=False,  # one utterance; stops a hallucination repeating
        )
        return segments

    def _pick_language(self, model: WhisperModel, samples: npt.NDArray[np.float32]) -> tuple[str, float]:
        """Whisper's best guess among ``asr.languages`` (any language when the list is empty)."""
        language, probability, scores = model.detect_language(samples)
        return pick_language(scores, self._languages) or (str(language), float(probability))

    def _detect_sync(self, samples: npt.NDArray[np.float32]) -> str | None:
        if samples.size == 0 or _dbfs(float(np.max(np.abs(samples)))) < SILENCE_PEAK_DBFS:
            return None
        model = self._ensure_loaded()
        language, probability = self._pick_language(model, samples)  # not reused: a partial clip
        return language if probability >= MIN_LANGUAGE_PROBABILITY else None

    def _transcribe_sync(
        self, samples: npt.NDArray[np.float32], language: str | None, duration_s: float
    ) -> Transcript:
        if samples.size == 0 or _dbfs(float(np.max(np.abs(samples)))) < SILENCE_PEAK_DBFS:
            return Transcript(text="", language=language or "", duration_s=duration_s)
        model = self._ensure_loaded()
        detected = language is None
        if language is not None and language not in model.supported_languages:
            raise BadInputError(
                f"language {language!r} is not one Whisper knows; use a code such as zh or en, "
                "or leave it empty to detect"
            )
        if language is None:
            # The detection pass's encoder output is reused by the transcription (EncoderReuse), so
            # detecting costs no second encoder pass.
            with self._reuse.recording() if self._reuse is not None else contextlib.nullcontext():
                language, _ = self._pick_language(model, samples)
        try:
            kept = self._decode(model, samples, language)
        finally:
            if self._reuse is not None:
                self._reuse.forget()  # never hand one clip's encoding to another
        joiner = "" if language in _NO_SPACE_LANGUAGES else " "
        return Transcript(
            text=joiner.join(s.text for s in kept),
            language="" if detected and not kept else language,  # a guess on noise means nothing
            duration_s=duration_s,
            segments=tuple(kept),
        )

    def _decode(
        self, model: WhisperModel, samples: npt.NDArray[np.float32], language: str
    ) -> list[TranscriptSegment]:
        segments = self._run(model, samples, language)
        chinese = language == "zh"
        quiet = _dbfs(float(np.sqrt(np.mean(np.square(samples))))) < QUIET_RMS_DBFS
        kept: list[TranscriptSegment] = []
        for segment in segments:  # the generator runs the decoder: consume it on this thread
            text = segment.text.strip()
            if chinese:
                text = tidy_chinese(text)  # unprompted, Whisper writes traditional characters, ASCII "?"
            text = strip_prompt_echo(text)
            score = SegmentScore(text, segment.no_speech_prob, segment.avg_logprob, segment.compression_ratio)
            if text and not is_hallucination(score, quiet):
                kept.append(TranscriptSegment(segment.start, segment.end, text))
        return kept


def _to_float32_16k(audio: AudioClip) -> npt.NDArray[np.float32]:
    """int16 mono → float32 in [-1, 1] at 16 kHz (resampled with soxr if needed)."""
    samples: npt.NDArray[Any] = np.asarray(audio.samples)
    if samples.ndim != 1:
        raise BadInputError(f"ASR needs mono audio, got an array of shape {samples.shape}")
    floats = samples.astype(np.float32) / 32768.0
    if audio.sample_rate_hz != INPUT_RATE_HZ and floats.size:
        import soxr

        floats = soxr.resample(floats, audio.sample_rate_hz, INPUT_RATE_HZ).astype(np.float32)
    return floats
