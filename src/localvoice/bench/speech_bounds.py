"""Where speech truly starts and ends in a clean recording: the reference for latency measurements.

The bench clips are synthesized speech with digital silence around it, so a plain energy threshold
finds the bounds to within one 10 ms window; the VAD under test is not used to judge itself.
"""

from __future__ import annotations

import numpy as np

from localvoice.events import AudioClip

_WINDOW_S = 0.010
_BELOW_PEAK_DB = 35.0  # quieter than this below the loudest window counts as silence
_FLOOR_DBFS = -55.0  # and so does anything under this absolute level


def speech_bounds(clip: AudioClip) -> tuple[float, float]:
    """(onset_s, end_s) of the speech in ``clip``; raises ``ValueError`` when it is all silence."""
    window = max(1, round(_WINDOW_S * clip.sample_rate_hz))
    count = len(clip.samples) // window
    if count == 0:
        raise ValueError("the clip is shorter than one 10 ms window")
    frames = clip.samples[: count * window].astype(np.float64).reshape(count, window)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    peak = float(rms.max())
    threshold = max(peak * 10 ** (-_BELOW_PEAK_DB / 20), 32768.0 * 10 ** (_FLOOR_DBFS / 20))
    loud = np.flatnonzero(rms >= threshold)
    if len(loud) == 0 or peak <= 0:
        raise ValueError("the clip holds no speech (all windows are silent)")
    return float(loud[0] * window / clip.sample_rate_hz), float((loud[-1] + 1) * window / clip.sample_rate_hz)
