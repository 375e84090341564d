"""Cut a recording into clips at its pauses, with the semantics of GPT-SoVITS's slicer (``slicer2``).

Written here from its documented behaviour, so clips come out as GPT-SoVITS's own tool would cut
them: a frame-wise RMS (window ``min(min_interval, 4 × hop)``, hop ``hop_size``, centred with zero
padding) below ``threshold`` dB is silence; a silence at least ``min_interval`` long cuts the clip, but
only once the clip is ``min_length`` long; at most ``max_sil_kept`` of silence stays on each side, and
the cut falls on the quietest frame. A leading silence is cut off when longer than ``max_sil_kept``;
a trailing silence of at least ``min_interval`` too. Parameters must satisfy min_length ≥
min_interval ≥ hop_size and max_sil_kept ≥ hop_size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from localvoice.errors import BadInputError

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SlicerSettings:
    """Defaults are those of GPT-SoVITS's web UI (its ``Slicer`` class alone has -40 / 5000 / 300 / 20 /
    5000)."""

    threshold_db: float = -34.0
    min_length_ms: int = 4000
    min_interval_ms: int = 300
    hop_size_ms: int = 10
    max_sil_kept_ms: int = 500

    def check(self) -> None:
        if not self.min_length_ms >= self.min_interval_ms >= self.hop_size_ms > 0:
            raise BadInputError(
                "slicer settings need min_length ≥ min_interval ≥ hop_size > 0, got "
                f"{self.min_length_ms} / {self.min_interval_ms} / {self.hop_size_ms} ms"
            )
        if self.max_sil_kept_ms < self.hop_size_ms:
            raise BadInputError(
                f"slicer settings need max_sil_kept ≥ hop_size, got {self.max_sil_kept_ms} < {self.hop_size_ms} ms"
            )


@dataclass(frozen=True, slots=True)
class Slice:
    start: int  # sample positions in the recording
    end: int


def frame_rms(samples: Floats, frame_length: int, hop: int) -> Floats:
    """RMS of centred frames (zero padding of half a frame on each side), one per hop."""
    half = frame_length // 2
    padded = np.pad(samples.astype(np.float64), (half, half))
    count = 1 + (len(padded) - frame_length) // hop if len(padded) >= frame_length else 1
    squares = np.concatenate([[0.0], np.cumsum(padded**2)])
    starts = np.arange(count) * hop
    ends = np.minimum(starts + frame_length, len(padded))
    energy = (squares[ends] - squares[starts]) / frame_length
    rms: Floats = np.sqrt(np.maximum(energy, 0.0)).astype(np.float32)
    return rms


def slice_points(samples: Floats, rate_hz: int, settings: SlicerSettings | None = None) -> list[Slice]:
    """Where to cut ``samples`` (float mono): the clips as sample ranges, in order."""
    s = settings or SlicerSettings()
    s.check()
    threshold = 10 ** (s.threshold_db / 20.0)
    hop = round(rate_hz * s.hop_size_ms / 1000)
    min_interval_samples = round(rate_hz * s.min_interval_ms / 1000)
    window = min(min_interval_samples, 4 * hop)
    min_length = round(rate_hz * s.min_length_ms / 1000 / hop)  # all in frames from here on
    min_interval = round(min_interval_samples / hop)
    max_kept = round(rate_hz * s.max_sil_kept_ms / 1000 / hop)
    whole = [Slice(0, len(samples))]
    if (len(samples) + hop - 1) // hop <= min_length:
        return whole
    rms = frame_rms(samples, window, hop)

    def quietest(lo: int, hi: int) -> int:
        return lo + int(np.argmin(rms[lo:hi]))

    tags: list[tuple[int, int]] = []  # silences to cut out, in frames
    silence_start: int | None = None
    clip_start = 0
    for i, level in enumerate(rms):
        if level < threshold:
            if silence_start is None:
                silence_start = i
            continue
        if silence_start is None:
            continue
        leading = silence_start == 0 and i > max_kept
        middle = i - silence_start >= min_interval and i - clip_start >= min_length
        if not leading and not middle:
            silence_start = None
            continue
        if i - silence_start <= max_kept:  # short: cut once, at the quietest frame
            pos = quietest(silence_start, i + 1)
            tags.append((0, pos) if silence_start == 0 else (pos, pos))
            clip_start = pos
        elif i - silence_start <= 2 * max_kept:  # medium: keep up to max_kept on each side
            pos = quietest(i - max_kept, silence_start + max_kept + 1)
            pos_l = quietest(silence_start, silence_start + max_kept + 1)
            pos_r = quietest(i - max_kept, i + 1)
            if silence_start == 0:
                tags.append((0, pos_r))
                clip_start = pos_r
            else:
                tags.append((min(pos_l, pos), max(pos_r, pos)))
                clip_start = max(pos_r, pos)
        else:  # long: keep max_kept on each side, drop the middle
            pos_l = quietest(silence_start, silence_start + max_kept + 1)
            pos_r = quietest(i - max_kept, i + 1)
            tags.append((0, pos_r) if silence_start == 0 else (pos_l, pos_r))
            clip_start = pos_r
        silence_start = None
    frames = len(rms)
    if silence_start is not None and frames - silence_start >= min_interval:
        end = min(frames, silence_start + max_kept)
        tags.append((quietest(silence_start, end + 1), frames + 1))
    if not tags:
        return whole
    bounds: list[tuple[int, int]] = []
    if tags[0][0] > 0:
        bounds.append((0, tags[0][0]))
    bounds.extend((tags[k][1], tags[k + 1][0]) for k in range(len(tags) - 1))
    if tags[-1][1] < frames:
        bounds.append((tags[-1][1], frames))
    out = [Slice(a * hop, min(len(samples), b * hop)) for a, b in bounds]
    return [piece for piece in out if piece.end > piece.start]
