"""``speed`` for synthesized speech: faster or slower without the chipmunk pitch shift.

WSOLA (waveform-similarity overlap-add): Hann-windowed frames are laid down at a fixed output hop and
read at ``speed`` times that hop; each frame is taken within a small search range where it best
continues the previous one, so periodic voiced sound stays in phase.
"""

from __future__ import annotations

import numpy as np

from localvoice.audio.wav import to_float32, to_int16
from localvoice.events import AudioClip

_FRAME_S = 0.03
_SEARCH_S = 0.008


def time_stretch(clip: AudioClip, speed: float) -> AudioClip:
    """``clip`` played ``speed`` times as fast (0.25–4.0), at the same pitch and rate."""
    source = to_float32(clip.samples)
    frame = max(16, int(clip.sample_rate_hz * _FRAME_S)) & ~1
    if speed == 1.0 or len(source) < 2 * frame:
        return clip
    hop_out = frame // 2
    hop_in = hop_out * speed
    tolerance = int(clip.sample_rate_hz * _SEARCH_S)
    window = np.hanning(frame).astype(np.float32)
    padded = np.concatenate(
        [np.zeros(tolerance, np.float32), source, np.zeros(frame + tolerance, np.float32)]
    )
    frames = int((len(source) / speed) // hop_out)
    out = np.zeros(frames * hop_out + frame, np.float32)
    weight = np.zeros_like(out)
    previous = tolerance  # where the last frame was read, in ``padded``
    for index in range(frames):
        nominal = tolerance + round(index * hop_in)
        if index == 0:
            start = nominal
        else:
            # The frame that would naturally follow the previous one, and the best match near nominal.
            natural = padded[previous + hop_out : previous + hop_out + frame]
            region = padded[nominal - tolerance : nominal + tolerance + frame]
            scores = np.correlate(region, natural, mode="valid")
            start = nominal - tolerance + int(np.argmax(scores))
        at = index * hop_out
        out[at : at + frame] += window * padded[start : start + frame]
        weight[at : at + frame] += window
        previous = start
    out = out / np.maximum(weight, 1e-3)
    return AudioClip(to_int16(out[: frames * hop_out]), clip.sample_rate_hz)
