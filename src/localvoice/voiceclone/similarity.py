"""How much synthesized speech sounds like the reference speaker: Resemblyzer's speaker embeddings.

Resemblyzer 0.1.4 ships its encoder weights (``resemblyzer/pretrained.pt``, 17 MB) and needs torch.
Seen (MODELS.md): the same speaker scores 0.79–0.93 cosine, different speakers 0.43–0.67; the plain
readings below are cut between those ranges.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from localvoice.audio.wav import to_float32
from localvoice.errors import BadInputError, MissingExtraError
from localvoice.events import AudioClip

EXTRA_HINT = "install it with: pip install 'localvoice[voicecheck]' (Resemblyzer and the CPU build of torch)"
SAME = 0.80
CLOSE = 0.70


def reading(score: float) -> str:
    if score >= SAME:
        return "sounds like the same speaker"
    if score >= CLOSE:
        return "close to the reference, but a listener may hear a different speaker"
    return "does not sound like the reference speaker (different people score about 0.43–0.67)"


class SpeakerEncoder:
    """Resemblyzer's encoder, loaded once (about a second on a CPU)."""

    def __init__(self) -> None:
        try:
            # Imported by name: an optional extra that mypy and most environments do not have.
            self._resemblyzer: Any = importlib.import_module("resemblyzer")
        except ImportError as error:
            raise MissingExtraError(
                f"voice check needs {error.name or 'Resemblyzer'}; {EXTRA_HINT}"
            ) from None
        self._encoder = self._resemblyzer.VoiceEncoder(device="cpu", verbose=False)

    def embed(self, clip: AudioClip) -> np.ndarray:
        wav = self._resemblyzer.preprocess_wav(to_float32(clip.samples), source_sr=clip.sample_rate_hz)
        if len(wav) < clip.sample_rate_hz // 4:
            raise BadInputError("there is too little speech to compare (under a quarter second).")
        embedding: np.ndarray = np.asarray(self._encoder.embed_utterance(wav), dtype=np.float64)
        return embedding

    def similarity(self, a: AudioClip, b: AudioClip) -> float:
        """Cosine similarity of the two clips' speaker embeddings (about 0.4–0.95 for speech)."""
        x, y = self.embed(a), self.embed(b)
        return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))
