"""The Whisper encoder reads the speech plus a margin, never Whisper's padding to 30 s, never too little."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from localvoice.backends.asr.encoder_window import FULL_FRAMES, EncoderWindow


class ShapeModel:
    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def encode(self, features: Any) -> str:
        self.shapes.append(tuple(features.shape))
        return "encoded"


def padded(speech_frames: int, batch: bool = False) -> np.ndarray:
    """Log-mel features as faster-whisper hands them over: speech, then zero columns up to 30 s."""
    features = np.zeros((80, FULL_FRAMES), dtype=np.float32)
    features[:, :speech_frames] = np.random.default_rng(0).uniform(-1, 1, (80, speech_frames))
    return features[None] if batch else features


@pytest.mark.parametrize(
    ("speech_frames", "window"),
    [
        (250, 1000),  # a 2.5 s question: the 10 s floor
        (901, 1002),  # speech + 1 s, rounded to an even count
        (2500, 2600),
        (2950, FULL_FRAMES),  # never beyond Whisper's own window
        (0, 1000),  # all padding (silence is caught before this, but it must not break)
    ],
)
def test_the_window_is_the_speech_plus_a_second_at_least_ten_seconds(speech_frames: int, window: int) -> None:
    model = ShapeModel()
    EncoderWindow(model, min_seconds=10.0)
    assert model.encode(padded(speech_frames)) == "encoded"
    assert model.shapes == [(80, window)]


def test_batched_features_are_cut_on_the_frame_axis_and_other_inputs_pass_untouched() -> None:
    model = ShapeModel()
    EncoderWindow(model, min_seconds=5.0)
    model.encode(padded(120, batch=True))
    model.encode(np.ones((80, 1500), dtype=np.float32))  # not a padded 30 s window: left alone
    assert model.shapes == [(1, 80, 500), (80, 1500)]


def test_speech_is_never_cut() -> None:
    model = ShapeModel()
    window = EncoderWindow(model, min_seconds=1.0)
    features = padded(700)
    features[:, 650:700] = 0.0  # a quiet stretch inside the speech is not padding...
    features[3, 699] = 0.5  # ...as long as something follows it
    model.encode(features)
    assert model.shapes == [(80, 800)] and window.last_frames == 800
