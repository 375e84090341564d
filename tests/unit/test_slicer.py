"""The slicer keeps GPT-SoVITS's semantics: where it cuts, what silence it keeps, what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from localvoice.errors import BadInputError
from localvoice.voiceclone.slicer import Slice, SlicerSettings, slice_points

RATE = 32_000
LOUD = 0.3  # about -13 dB RMS: far above the -34 dB threshold


def burst(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (LOUD * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), np.float32)


def seconds(cuts: list[Slice]) -> list[tuple[float, float]]:
    return [(round(c.start / RATE, 2), round(c.end / RATE, 2)) for c in cuts]


def test_a_recording_shorter_than_min_length_is_one_clip() -> None:
    audio = np.concatenate([burst(1.0), quiet(1.0), burst(1.0)])
    assert seconds(slice_points(audio, RATE)) == [(0.0, 3.0)]


def test_a_pause_shorter_than_min_interval_never_cuts() -> None:
    audio = np.concatenate([burst(3.0), quiet(0.2), burst(3.0), quiet(0.2), burst(3.0)])
    assert seconds(slice_points(audio, RATE)) == [(0.0, 9.4)]


def test_a_pause_cuts_only_once_the_clip_is_min_length_long() -> None:
    # Pauses at 2 s (too early: the clip is 2 s) and at 4.4 s (the clip is past 4 s): one cut.
    audio = np.concatenate([burst(2.0), quiet(0.4), burst(2.0), quiet(0.4), burst(2.0)])
    cuts = slice_points(audio, RATE)
    assert len(cuts) == 2
    assert 4.4 <= cuts[0].end / RATE <= 4.8 and cuts[1].start == cuts[0].end, "one cut, inside the pause"


def test_a_long_pause_keeps_max_sil_kept_on_each_side() -> None:
    audio = np.concatenate([burst(5.0), quiet(3.0), burst(5.0)])
    first, second = seconds(slice_points(audio, RATE))
    assert first[0] == 0.0 and 5.0 < first[1] <= 5.0 + 0.5 + 0.02  # at most 500 ms kept after speech
    assert 8.0 - 0.5 - 0.02 <= second[0] < 8.0 and second[1] == 13.0  # at most 500 ms kept before


def test_leading_and_trailing_silence_are_cut_off() -> None:
    audio = np.concatenate([quiet(2.0), burst(5.0), quiet(2.0)])
    (only,) = seconds(slice_points(audio, RATE))
    assert 1.48 <= only[0] < 2.0 and 7.0 < only[1] <= 7.52


def test_the_web_ui_defaults_and_the_parameter_rules() -> None:
    assert SlicerSettings() == SlicerSettings(-34.0, 4000, 300, 10, 500)
    for bad in (
        SlicerSettings(min_length_ms=200),  # min_length < min_interval
        SlicerSettings(min_interval_ms=5),  # min_interval < hop_size
        SlicerSettings(max_sil_kept_ms=5),  # max_sil_kept < hop_size
    ):
        with pytest.raises(BadInputError, match="slicer settings"):
            slice_points(burst(5.0), RATE, bad)
