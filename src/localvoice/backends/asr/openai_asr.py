"""Speech recognition on any OpenAI-compatible transcription server (``asr.backend = "openai"``).

Each finished utterance goes out as a 16-bit WAV in a multipart ``POST {url}/v1/audio/transcriptions``
(REFERENCE.md §4): vLLM, speaches, or another machine's ``localvoice serve``. What comes back is
treated as the local faster-whisper path treats its own output, so the rest of the assistant cannot
tell them apart:

- silence is not sent at all (the same peak level as the local path);
- ``asr.language`` or the caller's hint goes out as ``language``; without one the server detects, and
  a language outside ``asr.languages`` is asked for again in the allowed language the text's script
  points to (Whisper hears a short "停一下" as Japanese);
- Chinese comes back simplified, with full-width punctuation and the old prompt's echo cut
  (``chinese.py``); subtitle credits invented on silence are dropped by the same rules, with the
  server's segment scores when ``verbose_json`` gives them;
- ``verbose_json`` answers name the language in full ("chinese", as OpenAI does) or as a code
  ("zh", as most self-hosted servers do): both become the ISO code.

The server is asked nothing while the user is still talking: ``detect_language`` says "unsure", so
detection happens once, in the transcription. The key (``asr.openai.api_key``) defaults to
``OPENAI_API_KEY``, as ``llm.api_key`` does (config.py).
"""

from __future__ import annotations

import io
import math
import wave
from typing import Any, Self

import httpx
import numpy as np

from localvoice.backends.asr.chinese import SegmentScore, is_hallucination, strip_prompt_echo, tidy_chinese
from localvoice.backends.openai_audio import audio_http, check_server, check_status, error_text
from localvoice.backends.tts.gpt_sovits import clause_language
from localvoice.config import ASRConfig
from localvoice.errors import BackendError, BadInputError, ConfigError
from localvoice.events import AudioClip, Transcript, TranscriptSegment

PATH = "/v1/audio/transcriptions"
FORMATS = ("verbose_json", "json")
# The local path's levels (faster_whisper.py): below the peak the clip is silence and is not sent;
# below the RMS level, subtitle-credit phrases count as invented whatever the server says.
SILENCE_PEAK_DBFS = -55.0
QUIET_RMS_DBFS = -45.0
_NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "yue"})
# verbose_json from OpenAI names the language in English, as Whisper's tokenizer does.
_LANGUAGE_NAMES = {
    "chinese": "zh", "mandarin": "zh", "english": "en", "cantonese": "yue", "japanese": "ja",
    "korean": "ko", "french": "fr", "german": "de", "spanish": "es", "russian": "ru", "italian": "it",
    "portuguese": "pt", "dutch": "nl", "arabic": "ar", "hindi": "hi", "thai": "th", "vietnamese": "vi",
    "indonesian": "id", "malay": "ms", "turkish": "tr", "polish": "pl", "ukrainian": "uk",
    "swedish": "sv", "norwegian": "no", "nynorsk": "nn", "danish": "da", "finnish": "fi",
    "greek": "el", "hebrew": "he", "persian": "fa", "tagalog": "tl", "czech": "cs", "hungarian": "hu",
    "romanian": "ro", "tibetan": "bo", "mongolian": "mn", "uyghur": "ug",
}  # fmt: skip


def language_code(name: str) -> str:
    """``"Chinese"``, ``"zh"``, ``"zh-CN"`` → ``"zh"``; a name not known here → ``""`` (unsure)."""
    key = name.strip().lower()
    if key in _LANGUAGE_NAMES:
        return _LANGUAGE_NAMES[key]
    code = key.replace("_", "-").split("-")[0]
    return code if 2 <= len(code) <= 3 and code.isalpha() else ""


def wav_bytes(audio: AudioClip) -> bytes:
    """The clip as a 16-bit mono WAV file in memory."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(audio.sample_rate_hz)
        writer.writeframes(np.asarray(audio.samples, dtype="<i2").tobytes())
    return out.getvalue()


def _dbfs(value: float) -> float:
    return 20.0 * math.log10(max(value, 1e-10))


class OpenAiASR:
    """The ASR protocol over ``POST /v1/audio/transcriptions``; one HTTP connection pool per instance."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str = "",
        language: str | None = None,
        languages: tuple[str, ...] = ("zh", "en"),
        response_format: str = "verbose_json",
        timeout_s: float = 60.0,
    ) -> None:
        if response_format not in FORMATS:
            raise ConfigError(
                f"asr.openai.response_format must be verbose_json or json, got {response_format!r}"
            )
        if not model:
            raise ConfigError("asr.openai.model is empty: set it to the model name the server serves")
        self._http = audio_http("asr.openai", "transcription", url, api_key, timeout_s)
        self.model = model
        self._language = language or None
        self._languages = tuple(languages)
        self._format = response_format
        self._waited = f"{timeout_s:g} s (asr.openai.timeout_s)"

    @classmethod
    def from_config(cls, asr: ASRConfig) -> Self:
        """Built from its own config section only; OPENAI_API_KEY reached ``api_key`` in config.py."""
        section = asr.openai
        return cls(
            section.url,
            section.model,
            api_key=section.api_key,
            language=asr.language,
            languages=tuple(asr.languages),
            response_format=section.response_format,
            timeout_s=section.timeout_s,
        )

    @property
    def description(self) -> str:
        return f"OpenAI-compatible transcription ({self.model}) at {self._http.base_url}"

    async def warm_up(self) -> None:
        """Say now, not at the first turn, when the server is down or refuses the key."""
        await check_server(self._http, "asr.openai")

    async def detect_language(self, audio: AudioClip) -> str | None:
        return None  # the transcription detects it: one request a turn

    async def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        samples = np.asarray(audio.samples)
        if samples.ndim != 1:
            raise BadInputError(f"ASR needs mono audio, got an array of shape {samples.shape}")
        hint = language or self._language
        floats = samples.astype(np.float32) / 32768.0
        if floats.size == 0 or _dbfs(float(np.max(np.abs(floats)))) < SILENCE_PEAK_DBFS:
            return Transcript(text="", language=hint or "", duration_s=audio.duration_s)
        quiet = _dbfs(float(np.sqrt(np.mean(np.square(floats))))) < QUIET_RMS_DBFS
        wav = wav_bytes(audio)
        body = await self._post(wav, hint)
        text = _text_of(body)
        # json (or a server that does not say): the script of the text tells the language.
        detected = (
            hint or language_code(str(body.get("language") or "")) or (clause_language(text) if text else "")
        )
        if hint is None and self._languages and text and detected not in self._languages:
            # Outside what the user speaks: ask again in the allowed language the script points to.
            guess = clause_language(text)
            retry = guess if guess in self._languages else self._languages[0]
            body, detected = await self._post(wav, retry), retry
            text = _text_of(body)
        kept = self._kept_segments(body, text, detected, quiet)
        joiner = "" if detected in _NO_SPACE_LANGUAGES else " "
        return Transcript(
            text=joiner.join(s.text for s in kept),
            language="" if hint is None and not kept else detected,  # a guess on noise means nothing
            duration_s=audio.duration_s,
            segments=tuple(kept),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- internals ----

    async def _post(self, wav: bytes, language: str | None) -> dict[str, Any]:
        form = {"model": self.model, "response_format": self._format, "temperature": "0"}
        if language:
            form["language"] = language
        files = {"file": ("speech.wav", wav, "audio/wav")}
        http = self._http
        try:
            response = await http.client().post(PATH, data=form, files=files)
        except httpx.HTTPError as error:
            raise http.transport_error(error, self._waited) from None
        check_status(http, "asr.openai", PATH, response.status_code, response.text)
        body = http.parse_object(response.content)
        if "error" in body and "text" not in body:  # an error under HTTP 200, as some servers send it
            detail = error_text(response.text) or str(body["error"])
            raise BackendError(f"{http.words.server} could not transcribe the utterance: {detail}")
        if not isinstance(body.get("text"), str):
            raise http.not_protocol("a JSON reply without text")
        return body

    def _kept_segments(
        self, body: dict[str, Any], text: str, language: str, quiet: bool
    ) -> list[TranscriptSegment]:
        """The server's segments (or its whole text as one), cleaned and filtered as the local path does."""
        raw = body.get("segments")
        if isinstance(raw, list) and raw and all(isinstance(s, dict) for s in raw):
            items: list[dict[str, Any]] = raw
        else:  # json, or a server that sends no segments: the whole text is one
            items = [{"text": text, "end": body.get("duration", 0.0)}]
        kept: list[TranscriptSegment] = []
        for item in items:
            piece = str(item.get("text") or "").strip()
            if language == "zh":
                piece = tidy_chinese(piece)
            piece = strip_prompt_echo(piece)
            score = SegmentScore(
                piece,
                _number(item.get("no_speech_prob"), 0.0),
                _number(item.get("avg_logprob"), 0.0),
                _number(item.get("compression_ratio"), 1.0),
            )
            if piece and not is_hallucination(score, quiet):
                kept.append(
                    TranscriptSegment(_number(item.get("start"), 0.0), _number(item.get("end"), 0.0), piece)
                )
        return kept


def _text_of(body: dict[str, Any]) -> str:
    return str(body["text"]).strip()


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default
