"""Training data for GPT-SoVITS from the user's recordings: normalise, (denoise), slice, label, pick a
reference — the steps of GPT-SoVITS's own web UI, done here so its training starts from a ready folder.

Vocal isolation (UVR5 in GPT-SoVITS) needs separation weights that no package registry ships, so the
step is a pluggable ``Separator`` that is off by default: record without music, or separate first.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from localvoice.audio.wav import read_audio, to_float32, to_int16, write_wav
from localvoice.errors import BadInputError, MissingExtraError
from localvoice.events import AudioClip
from localvoice.protocols import ASR
from localvoice.voiceclone.label import Labelled, list_language, transcribe_clip, write_list
from localvoice.voiceclone.reference import MIN_S, Candidate, best_candidate
from localvoice.voiceclone.slicer import SlicerSettings, slice_points

RATE_HZ = 32_000  # GPT-SoVITS's clip rate
TARGET_LUFS = -23.0  # EBU R128 programme loudness: pauses stay well under the slicer's -34 dB
PEAK_MAX = 0.9  # GPT-SoVITS's slicing step: peaks mixed toward 0.9 with weight alpha
PEAK_ALPHA = 0.25
MIN_CLIP_S = 1.0
MAX_CLIP_S = 25.0
EXTRA_HINT = "install it with: pip install 'localvoice[voiceclone]'"

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class Separator(Protocol):
    """Vocal isolation: the voice alone out of a mix (float mono in, float mono out)."""

    def separate(self, samples: np.ndarray, rate_hz: int) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class PrepareOptions:
    speaker: str
    out: Path
    language: str = "zh"
    denoise: bool = False
    slicer: SlicerSettings = field(default_factory=SlicerSettings)
    separator: Separator | None = None


@dataclass(slots=True)
class PrepareResult:
    list_path: Path
    clips: list[Labelled]
    seconds: float
    rejected: collections.Counter[str]
    reference: Candidate | None = None
    reference_path: Path | None = None
    reference_text: str = ""


def loudness_normalised(samples: np.ndarray, rate_hz: int, source: Path) -> np.ndarray:
    """``samples`` at TARGET_LUFS (ITU-R BS.1770), the gain capped so no peak clips."""
    try:
        import pyloudnorm  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError(f"voice prepare needs pyloudnorm; {EXTRA_HINT}") from None
    loudness = pyloudnorm.Meter(rate_hz).integrated_loudness(samples.astype(np.float64))
    if not np.isfinite(loudness):
        raise BadInputError(f"{source} holds no speech (it is silent): record the voice again.")
    gain = 10 ** ((TARGET_LUFS - loudness) / 20.0)
    peak = float(np.max(np.abs(samples))) or 1.0
    gain = min(gain, 0.99 / peak)
    out: np.ndarray = (samples * gain).astype(np.float32)
    return out


def denoised(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    try:
        import noisereduce  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError(f"--denoise needs noisereduce; {EXTRA_HINT}") from None
    out: np.ndarray = noisereduce.reduce_noise(y=samples, sr=rate_hz, stationary=True).astype(np.float32)
    return out


def peak_mixed(samples: np.ndarray) -> np.ndarray:
    """GPT-SoVITS's per-clip level: a blend of the clip and its peak-normalised self."""
    peak = float(np.max(np.abs(samples))) or 1.0
    if peak > 1.0:
        samples = samples / peak
        peak = 1.0
    mixed: np.ndarray = samples / peak * (PEAK_MAX * PEAK_ALPHA) + (1 - PEAK_ALPHA) * samples
    return mixed


def load_recording(path: Path, options: PrepareOptions) -> np.ndarray:
    """One recording as float mono at 32 kHz, isolated, normalised and denoised as asked."""
    clip = read_audio(path, RATE_HZ)  # any audio file; not audio → one clear line
    if clip.duration_s < MIN_S:
        raise BadInputError(
            f"{path} is {clip.duration_s:.1f} s long: training needs recordings of speech of at least "
            f"{MIN_S:g} s (a few minutes in all is good)."
        )
    samples = to_float32(clip.samples)
    if options.separator is not None:
        samples = options.separator.separate(samples, RATE_HZ).astype(np.float32)
    samples = loudness_normalised(samples, RATE_HZ, path)
    return denoised(samples, RATE_HZ) if options.denoise else samples


Loaded = list[tuple[Path, np.ndarray]]


def load_recordings(recordings: Sequence[Path], options: PrepareOptions) -> Loaded:
    """Every recording read and checked (before any model loads or any file is written)."""
    list_language(options.language)
    options.slicer.check()
    if not recordings:
        raise BadInputError("voice prepare needs at least one recording.")
    return [(path, load_recording(path, options)) for path in recordings]


async def prepare(
    loaded: Loaded, options: PrepareOptions, asr: ASR, progress: Progress | None = None
) -> PrepareResult:
    """Write ``OUT/wavs/*.wav``, ``OUT/SPEAKER.list``, ``OUT/reference.wav`` and ``reference.txt``."""
    language = list_language(options.language)
    recordings = [path for path, _ in loaded]
    wavs = options.out / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    pieces: list[tuple[Path, AudioClip]] = []
    rejected: collections.Counter[str] = collections.Counter()
    for path, samples in loaded:
        for piece in slice_points(samples, RATE_HZ, options.slicer):
            seconds = (piece.end - piece.start) / RATE_HZ
            if seconds < MIN_CLIP_S:
                rejected[f"shorter than {MIN_CLIP_S:g} s"] += 1
                continue
            if seconds > MAX_CLIP_S:
                rejected[f"longer than {MAX_CLIP_S:g} s (too few pauses: lower --threshold)"] += 1
                continue
            clip = AudioClip(to_int16(peak_mixed(samples[piece.start : piece.end])), RATE_HZ)
            target = wavs / f"{path.stem}_{piece.start:010d}_{piece.end:010d}.wav"
            write_wav(target, clip)
            pieces.append((target, clip))
    labelled: list[Labelled] = []
    kept: list[tuple[Labelled, AudioClip]] = []
    for done, (target, clip) in enumerate(pieces, start=1):
        text = await transcribe_clip(asr, clip, options.language)
        if progress is not None:
            progress("labelling", done, len(pieces))
        if not text:
            rejected["no speech heard"] += 1
            target.unlink(missing_ok=True)
            continue
        entry = Labelled(target.resolve(), options.speaker, language, text)
        labelled.append(entry)
        kept.append((entry, clip))
    if not labelled:
        raise BadInputError(
            "no speech was found in "
            + ", ".join(str(p) for p in recordings)
            + ": record clear speech (ideally a few minutes) and try again."
        )
    list_path = options.out / f"{options.speaker}.list"
    write_list(list_path, labelled)
    result = PrepareResult(list_path, labelled, sum(c.duration_s for _, c in kept), rejected)
    _pick_reference(result, kept, options.out)
    return result


def _pick_reference(result: PrepareResult, kept: list[tuple[Labelled, AudioClip]], out: Path) -> None:
    """The best 3–10 s clip as ``reference.wav`` with its text in ``reference.txt``."""
    if not kept:
        return
    joined = AudioClip(np.concatenate([clip.samples for _, clip in kept]), RATE_HZ)
    candidates, position = [], 0
    for entry, clip in kept:
        candidates.append(Candidate(position, position + len(clip.samples), entry.text))
        position += len(clip.samples)
    best = best_candidate(candidates, joined)
    if best is None:
        return
    entry = kept[candidates.index(best)][0]
    reference = out / "reference.wav"
    write_wav(reference, AudioClip(joined.samples[best.start : best.end], RATE_HZ))
    (out / "reference.txt").write_text(entry.text + "\n", encoding="utf-8")
    result.reference, result.reference_path, result.reference_text = best, reference, entry.text
