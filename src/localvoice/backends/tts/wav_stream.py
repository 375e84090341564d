"""An incremental parser for a WAV file that arrives over HTTP in pieces, as a streaming TTS sends it.

A streaming server writes the header before it knows the length, so its data length is 0 (or any
other made-up number): the parser ignores it and takes everything after the ``data`` chunk header as
int16 PCM until the stream ends. Pieces are cut at arbitrary byte boundaries, odd ones included; a
half sample waits for the next piece. The rate comes from the header (32, 24 or 48 kHz).
"""

from __future__ import annotations

import struct

import numpy as np

from localvoice.errors import BackendError
from localvoice.events import AudioClip

_RIFF_HEADER = 12  # "RIFF" <size> "WAVE"
_CHUNK_HEADER = 8  # <id> <size>
_PCM = 1
_EXTENSIBLE = 0xFFFE


class WavStreamParser:
    """Feed bytes as they arrive; get back the audio they complete, as clips at the header's rate."""

    def __init__(self, source: str = "the TTS server") -> None:
        self._source = source
        self._buffer = bytearray()
        self._in_data = False
        self._channels = 1
        self.sample_rate_hz: int | None = None

    def feed(self, data: bytes) -> AudioClip | None:
        """The whole samples completed by ``data``, or None when it completes none."""
        self._buffer += data
        if not self._in_data and not self._read_header():
            return None
        frame_bytes = 2 * self._channels
        usable = len(self._buffer) - len(self._buffer) % frame_bytes
        if usable == 0:
            return None
        pcm = np.frombuffer(bytes(self._buffer[:usable]), dtype="<i2")
        del self._buffer[:usable]
        if self._channels > 1:  # down-mix: the pipeline speaks mono
            pcm = pcm.reshape(-1, self._channels).mean(axis=1).astype(np.int16)
        assert self.sample_rate_hz is not None
        return AudioClip(pcm.astype(np.int16, copy=False), self.sample_rate_hz)

    def finish(self) -> None:
        """Check the stream ended sensibly: a header at least (an empty body is not audio)."""
        if not self._in_data:
            if not self._buffer:
                raise BackendError(f"{self._source} sent no audio at all")
            raise BackendError(f"{self._source} sent a reply that is not a WAV stream")

    def _read_header(self) -> bool:
        """Consume the header once it is all there; True when the data chunk has begun."""
        buffer = self._buffer
        if len(buffer) < _RIFF_HEADER:
            if not b"RIFF".startswith(bytes(buffer[:4])):
                self._not_wav()
            return False
        if buffer[:4] != b"RIFF" or buffer[8:12] != b"WAVE":
            self._not_wav()
        position = _RIFF_HEADER
        while len(buffer) >= position + _CHUNK_HEADER:
            chunk_id = bytes(buffer[position : position + 4])
            (size,) = struct.unpack_from("<I", buffer, position + 4)
            body = position + _CHUNK_HEADER
            if chunk_id == b"data":  # its size is 0 or made up while streaming: ignore it
                if self.sample_rate_hz is None:
                    raise BackendError(f"{self._source} sent a WAV stream with no format chunk")
                del buffer[:body]
                self._in_data = True
                return True
            if len(buffer) < body + size:
                return False  # the rest of this chunk has not arrived yet
            if chunk_id == b"fmt ":
                self._read_format(bytes(buffer[body : body + size]))
            position = body + size + (size & 1)  # RIFF chunks are padded to even sizes
        return False

    def _read_format(self, fmt: bytes) -> None:
        if len(fmt) < 16:
            raise BackendError(f"{self._source} sent a WAV stream with a broken format chunk")
        encoding, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
        if encoding not in (_PCM, _EXTENSIBLE) or bits != 16 or channels < 1 or rate <= 0:
            raise BackendError(
                f"{self._source} sent {bits}-bit audio in format {encoding}; localvoice reads 16-bit "
                "PCM WAV (media_type=wav)"
            )
        self._channels = channels
        self.sample_rate_hz = rate

    def _not_wav(self) -> None:
        head = bytes(self._buffer[:40]).decode("utf-8", "replace").strip()
        raise BackendError(f"{self._source} sent something that is not a WAV stream: {head!r}")
