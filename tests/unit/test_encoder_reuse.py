"""The Whisper encoder pass of language detection is handed to the transcription once, never more."""

from __future__ import annotations

from typing import Any

from localvoice.backends.asr.encoder_reuse import EncoderReuse


class CountingModel:
    def __init__(self) -> None:
        self.passes = 0

    def encode(self, features: Any) -> str:
        self.passes += 1
        return f"encoding of {features}"


def test_detection_output_is_reused_once_then_encoding_resumes() -> None:
    model = CountingModel()
    reuse = EncoderReuse(model)
    with reuse.recording():
        assert model.encode("clip A") == "encoding of clip A"  # detection
    assert model.encode("clip A, minus its last frame") == "encoding of clip A"  # transcription: reused
    assert model.encode("clip B") == "encoding of clip B"  # later windows and clips: encoded again
    assert model.passes == 2 and reuse.reused == 1


def test_forget_drops_an_unused_recording() -> None:
    model = CountingModel()
    reuse = EncoderReuse(model)
    with reuse.recording():
        model.encode("clip A")
    reuse.forget()
    assert model.encode("clip B") == "encoding of clip B"
    assert reuse.reused == 0


def test_without_recording_nothing_is_kept() -> None:
    model = CountingModel()
    EncoderReuse(model)
    model.encode("clip A")
    assert model.encode("clip B") == "encoding of clip B"
    assert model.passes == 2
