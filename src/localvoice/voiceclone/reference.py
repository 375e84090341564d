"""The reference clip of a cloned voice: GPT-SoVITS needs 3–10 s of clean, complete speech.

Picking one: among candidate stretches of speech (slices cut at pauses), prefer the ones that are a
complete sentence, clean (a low noise floor against the speech) and of typical loudness for the
speaker; the length should sit comfortably inside 3–10 s.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from localvoice.audio.wav import read_audio
from localvoice.errors import BadInputError
from localvoice.events import AudioClip, Pcm

MIN_S = 3.0
MAX_S = 10.0
_SENTENCE_END = tuple("。！？!?.…")


def duration_problem(seconds: float) -> str | None:
    """Why a clip of ``seconds`` cannot be a GPT-SoVITS reference, or None."""
    if seconds < MIN_S:
        return f"it is {seconds:.1f} s long; GPT-SoVITS needs a reference of {MIN_S:g}–{MAX_S:g} s"
    if seconds > MAX_S:
        return f"it is {seconds:.1f} s long; GPT-SoVITS needs a reference of {MIN_S:g}–{MAX_S:g} s"
    return None


def reference_file_problem(path: Path) -> str | None:
    """Why the file at ``path`` cannot be a reference (missing, unreadable, wrong length), or None."""
    try:
        clip = read_audio(path, 16_000)
    except BadInputError as error:
        return str(error)
    return duration_problem(clip.duration_s)


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int  # samples into the recording
    end: int
    text: str = ""  # its transcript, when known

    def seconds(self, rate_hz: int) -> float:
        return (self.end - self.start) / rate_hz


def _rms_db(samples: Pcm) -> float:
    if len(samples) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64) / 32768.0))))
    return 20.0 * float(np.log10(max(rms, 1e-6)))


def _frame_db(samples: Pcm, rate_hz: int, frame_ms: int = 20) -> np.ndarray:
    size = max(1, rate_hz * frame_ms // 1000)
    count = len(samples) // size
    if count == 0:
        return np.array([_rms_db(samples)])
    frames = samples[: count * size].astype(np.float64).reshape(count, size) / 32768.0
    db: np.ndarray = 20.0 * np.log10(np.maximum(np.sqrt(np.mean(frames**2, axis=1)), 1e-6))
    return db


def score(candidate: Candidate, audio: AudioClip, typical_db: float) -> float:
    """Higher is better: complete, clean, typical loudness, a comfortable length."""
    samples = audio.samples[candidate.start : candidate.end]
    seconds = candidate.seconds(audio.sample_rate_hz)
    if duration_problem(seconds) is not None:
        return float("-inf")
    frames = _frame_db(samples, audio.sample_rate_hz)
    # Clean: speech well above the quietest frames (the noise floor between words).
    clean = float(np.percentile(frames, 90) - np.percentile(frames, 10))
    loudness = -abs(_rms_db(samples) - typical_db)
    length = -abs(seconds - 6.0)  # the middle of 3–10 s leaves room on both sides
    text = candidate.text.strip()
    complete = 10.0 if text.endswith(_SENTENCE_END) else 0.0 if text else 5.0
    return complete + 0.5 * min(clean, 40.0) + loudness + length


def best_candidate(candidates: list[Candidate], audio: AudioClip) -> Candidate | None:
    """The best 3–10 s candidate, or None when none is 3–10 s long."""
    if not candidates:
        return None
    typical_db = float(np.median([_rms_db(audio.samples[c.start : c.end]) for c in candidates]))
    scored = [(score(c, audio, typical_db), c) for c in candidates]
    best_score, best = max(scored, key=lambda pair: pair[0])
    return best if best_score > float("-inf") else None


def windows_at_pauses(pauses: list[int], length: int, rate_hz: int) -> list[Candidate]:
    """Every stretch from one pause (or the start) to a later pause (or the end) that is 3–10 s long.

    ``pauses`` are sample positions in the middle of silences, so every window starts and ends
    between words.
    """
    edges = sorted({0, *pauses, length})
    out: list[Candidate] = []
    for i, start in enumerate(edges):
        for end in edges[i + 1 :]:
            seconds = (end - start) / rate_hz
            if seconds > MAX_S:
                break
            if seconds >= MIN_S:
                out.append(Candidate(start, end))
    return out


def pauses_in(audio: AudioClip) -> list[int]:
    """Sample positions in the middle of the pauses between stretches of speech."""
    from localvoice.audio.wav import to_float32
    from localvoice.voiceclone.slicer import SlicerSettings, slice_points

    fine = SlicerSettings(min_length_ms=300, min_interval_ms=300, hop_size_ms=10, max_sil_kept_ms=300)
    pieces = slice_points(to_float32(audio.samples), audio.sample_rate_hz, fine)
    return [(a.end + b.start) // 2 for a, b in itertools.pairwise(pieces)]


def best_window(audio: AudioClip) -> Candidate | None:
    """The best 3–10 s stretch of a longer recording, starting and ending in pauses."""
    candidates = windows_at_pauses(pauses_in(audio), len(audio.samples), audio.sample_rate_hz)
    return best_candidate(candidates, audio)
