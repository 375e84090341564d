"""Silero VAD v6 on onnxruntime: the model file that ships inside the faster-whisper wheel.

Streaming use: each call feeds one 512-sample (32 ms) frame at 16 kHz, prefixed by the last 64 samples
of the previous frame, and carries the LSTM state (h, c) across calls, as Silero's own streaming
wrapper does. One intra-op thread keeps idle listening cheap and out of the way of ASR and TTS.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Self

import numpy as np
import numpy.typing as npt
import onnxruntime

from localvoice.config import VADConfig
from localvoice.errors import BadInputError, MissingExtraError, ModelIntegrityError
from localvoice.events import INPUT_RATE_HZ, Pcm

FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64
STATE_SHAPE = (1, 1, 128)
_MODEL_PACKAGE = "faster_whisper.assets"
_MODEL_NAME = "silero_vad_v6.onnx"


def packaged_model_path() -> Path:
    """The Silero v6 ONNX file inside the installed faster-whisper package."""
    try:
        path = Path(str(importlib.resources.files(_MODEL_PACKAGE) / _MODEL_NAME))
    except ModuleNotFoundError:
        raise MissingExtraError(
            "the Silero VAD model ships with faster-whisper, which is not installed; "
            "install it with: pip install 'localvoice[asr]'"
        ) from None
    if not path.is_file():
        raise ModelIntegrityError(
            f"the Silero VAD model {_MODEL_NAME} is missing from faster-whisper; "
            "reinstall it with: pip install --force-reinstall faster-whisper==1.2.1"
        )
    return path


class SileroVAD:
    """Speech probability per 32 ms frame of 16 kHz int16 audio (implements ``protocols.VAD``)."""

    sample_rate_hz = INPUT_RATE_HZ

    def __init__(self, model_path: Path | None = None) -> None:
        self.frame_samples = FRAME_SAMPLES
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        path = model_path or packaged_model_path()
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            raise ModelIntegrityError(
                f"the VAD model {path} could not be loaded ({error}); reinstall faster-whisper==1.2.1"
            ) from None
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    @classmethod
    def from_config(cls, config: VADConfig) -> Self:
        del config  # the packaged model has nothing to configure; the thresholds are the segmenter's
        return cls()

    def speech_probability(self, frame: Pcm) -> float:
        if frame.ndim != 1 or len(frame) != FRAME_SAMPLES:
            raise BadInputError(
                f"the VAD takes frames of {FRAME_SAMPLES} mono samples, got shape {frame.shape}; "
                "buffer the audio into 32 ms frames first"
            )
        samples: npt.NDArray[np.float32] = frame.astype(np.float32) / 32768.0
        window = np.concatenate([self._context, samples])[np.newaxis, :]
        probs, self._h, self._c = self._session.run(None, {"input": window, "h": self._h, "c": self._c})
        self._context = samples[-CONTEXT_SAMPLES:]
        return float(probs[0])

    def reset(self) -> None:
        """Forget the audio heard so far: the next frame is scored as the start of a stream."""
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
