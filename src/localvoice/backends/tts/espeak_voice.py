"""Last-resort voice: the espeak-ng binary, for a language whose packaged voice is not installed.

It needs no weights at all but sounds robotic (and Whisper cannot read its Mandarin), so the router
uses it only when the real voice is missing.
"""

from __future__ import annotations

import asyncio
import shutil
import struct

import numpy as np

from localvoice.errors import BackendError, BackendUnavailableError
from localvoice.events import AudioClip

_HEADER_BYTES = 44


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _pcm_from_wav_stream(data: bytes) -> AudioClip:
    """espeak-ng streams a WAV whose size fields are placeholders: read the rate, take all after it."""
    if len(data) < _HEADER_BYTES or data[:4] != b"RIFF":
        raise BackendError("espeak-ng returned no audio; check that the espeak-ng package is intact")
    rate_hz = struct.unpack_from("<I", data, 24)[0]
    marker = data.find(b"data", 12)
    start = marker + 8 if marker >= 0 else _HEADER_BYTES
    body = data[start : start + (len(data) - start) // 2 * 2]
    return AudioClip(np.frombuffer(body, dtype="<i2").astype(np.int16), int(rate_hz))


class EspeakVoice:
    """One espeak-ng process per clause; it starts in milliseconds, so nothing is kept warm."""

    def __init__(self, language: str) -> None:
        self.language = language  # espeak-ng voice name: "cmn" or "en"

    async def warm_up(self) -> None:
        if not espeak_available():
            raise BackendUnavailableError(
                "espeak-ng is not installed; install it with: sudo apt-get install espeak-ng"
            )

    async def synthesize(self, text: str) -> AudioClip:
        await self.warm_up()
        process = await asyncio.create_subprocess_exec(
            "espeak-ng",
            "-v",
            self.language,
            "--stdout",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Text goes through stdin so a clause starting with "-" is never read as an option.
        out, err = await process.communicate(text.encode("utf-8"))
        if process.returncode != 0:
            detail = err.decode("utf-8", "replace").strip()
            raise BackendError(f"espeak-ng failed ({process.returncode}): {detail}")
        return _pcm_from_wav_stream(out)

    async def aclose(self) -> None:
        return None
