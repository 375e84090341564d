"""Audio in and out of the OpenAI audio routes: decoding uploads, encoding speech, subtitle formats.

Decoding reuses ``audio.wav.read_audio`` (anything libsndfile reads: WAV, FLAC, Ogg Vorbis/Opus, MP3
with libsndfile ≥ 1.1). Encoding offers wav and pcm always, and flac, opus and mp3 only where this
install's libsndfile can write them, checked once with a real encode.
"""

from __future__ import annotations

import functools
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from localvoice.audio.resample import resample
from localvoice.audio.wav import read_audio
from localvoice.errors import BadInputError
from localvoice.events import INPUT_RATE_HZ, AudioClip, TranscriptSegment
from localvoice.server.errors import bad_request, unsupported_media

# format → (libsndfile container, subtype, media type)
_ENCODED = {
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "opus": ("OGG", "OPUS", "audio/ogg"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
}
_OPUS_RATES_HZ = (8_000, 12_000, 16_000, 24_000, 48_000)
MEDIA_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"} | {
    name: kind for name, (_, _, kind) in _ENCODED.items()
}


@functools.cache
def speech_formats() -> tuple[str, ...]:
    """The ``response_format`` values this install can produce."""
    usable = ["wav", "pcm"]
    for name, (container, subtype, _) in _ENCODED.items():
        try:
            sf.write(io.BytesIO(), np.zeros(480, dtype=np.int16), 24_000, subtype=subtype, format=container)
        except (sf.LibsndfileError, TypeError, ValueError, RuntimeError):
            continue
        usable.append(name)
    return tuple(usable)


def check_speech_format(name: str) -> None:
    if name not in speech_formats():
        supported = ", ".join(speech_formats())
        raise bad_request(
            f"response_format {name!r} is not available here; use one of: {supported}", "response_format"
        )


def encode(clip: AudioClip, name: str) -> bytes:
    """``clip`` as the bytes of ``name`` (a value of ``speech_formats()``); pcm is raw s16le."""
    samples = np.asarray(clip.samples, dtype=np.int16)
    if name == "pcm":
        return samples.tobytes()
    rate = clip.sample_rate_hz
    if name == "wav":
        container, subtype = "WAV", "PCM_16"
    else:
        container, subtype, _ = _ENCODED[name]
    if name == "opus" and rate not in _OPUS_RATES_HZ:  # Opus runs at a few fixed rates only
        samples, rate = resample(samples, rate, 48_000), 48_000
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, subtype=subtype, format=container)
    return buffer.getvalue()


def decode_upload(data: bytes, filename: str) -> AudioClip:
    """An uploaded file as 16 kHz mono int16: 415 when it is not audio, 400 when it is broken or empty."""
    if not data:
        raise bad_request(f"the uploaded file {filename!r} is empty", "file")
    handle, temp_name = tempfile.mkstemp(prefix="localvoice-upload-", suffix=Path(filename).suffix[:16])
    path = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
        try:
            sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError):
            raise unsupported_media(
                f"the uploaded file {filename!r} is not audio this server can decode: send WAV, FLAC, "
                "Ogg (Vorbis or Opus) or MP3"
            ) from None
        try:
            return read_audio(path, INPUT_RATE_HZ)
        except BadInputError as error:  # truncated or empty: name the upload, not our temp file
            raise bad_request(str(error).replace(str(path), repr(filename)), "file") from None
    finally:
        path.unlink(missing_ok=True)


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(segments: Sequence[TranscriptSegment]) -> str:
    blocks = [
        f"{index}\n{_clock(s.start_s, ',')} --> {_clock(s.end_s, ',')}\n{s.text.strip()}\n"
        for index, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def vtt(segments: Sequence[TranscriptSegment]) -> str:
    blocks = [f"{_clock(s.start_s, '.')} --> {_clock(s.end_s, '.')}\n{s.text.strip()}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(blocks)
