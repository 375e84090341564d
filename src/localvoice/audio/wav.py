"""Audio files in and out: anything soundfile reads becomes 16 kHz (or any rate) mono int16.

libsndfile quietly shortens a truncated WAV to the bytes that are there, so a cut-off download would
pass for a short recording; we compare the RIFF ``data`` chunk's declared size with what is on disk.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from localvoice.audio.resample import resample_float
from localvoice.errors import BadInputError
from localvoice.events import AudioClip, Pcm

FloatAudio = npt.NDArray[np.float32]

_INT16_SCALE = 32768.0
_STREAMED_SIZES = (0, 0xFFFFFFFF)  # writers that stream to a pipe leave the size unknown


def to_float32(pcm: Pcm) -> FloatAudio:
    """int16 → float32 in [-1, 1)."""
    return (np.asarray(pcm, dtype=np.float32) / _INT16_SCALE).astype(np.float32, copy=False)


def to_int16(samples: npt.NDArray[np.floating]) -> Pcm:
    """float → int16, rounding and clipping anything outside [-1, 1)."""
    scaled = np.rint(np.asarray(samples, dtype=np.float64) * _INT16_SCALE)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def read_audio(path: Path, target_rate_hz: int = 16_000) -> AudioClip:
    """Read a wav/flac/ogg (any rate, width, channel count) as mono int16 at ``target_rate_hz``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"Audio file {path} does not exist: check the path.")
    try:
        audio_file = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise BadInputError(
            f"{path} is not a readable audio file ({_reason(error)}): use a WAV, FLAC or Ogg file."
        ) from error
    truncated = f"{path} is truncated or damaged (its audio stops early): export it again."
    with audio_file:
        declared_frames, rate_hz = audio_file.frames, audio_file.samplerate
        try:
            data = audio_file.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise BadInputError(truncated) from error
        is_wav = audio_file.format == "WAV"
    if len(data) < declared_frames or (is_wav and _wav_is_truncated(path)):
        raise BadInputError(truncated)
    if len(data) == 0:
        raise BadInputError(f"{path} contains no audio samples: record or export it again.")
    mono: FloatAudio = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if rate_hz != target_rate_hz:
        mono = resample_float(mono, rate_hz, target_rate_hz)
    return AudioClip(to_int16(mono), target_rate_hz)


def write_wav(path: Path, clip: AudioClip) -> None:
    """Write 16-bit PCM mono; readers never see a half-written file (temp file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        sf.write(
            temp_name, np.asarray(clip.samples, dtype=np.int16), clip.sample_rate_hz, "PCM_16", format="WAV"
        )
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _reason(error: Exception) -> str:
    text = str(error)
    return text.split(": ", 1)[1].rstrip(".") if ": " in text else text


def _wav_is_truncated(path: Path) -> bool:
    """True when the RIFF ``data`` chunk claims more bytes than the file holds."""
    file_size = path.stat().st_size
    with path.open("rb") as stream:
        if stream.read(4) != b"RIFF":
            return False  # RF64 / W64 / RIFX: trust libsndfile
        stream.seek(12)
        while True:
            header = stream.read(8)
            if len(header) < 8:
                return False
            chunk_id, size = struct.unpack("<4sI", header)
            start = stream.tell()
            if chunk_id == b"data":
                return size not in _STREAMED_SIZES and start + size > file_size
            stream.seek(start + size + (size & 1))  # chunks are padded to an even length
