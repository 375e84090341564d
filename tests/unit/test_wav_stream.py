"""The streamed-WAV parser: a lying header, pieces cut anywhere, the rate from the header."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from localvoice.backends.tts.wav_stream import WavStreamParser
from localvoice.errors import BackendError
from tests.fake_gpt_sovits import wav_header


def pcm(n: int) -> np.ndarray:
    return ((np.arange(n) * 37) % 65536 - 32768).astype(np.int16)  # every byte value, both signs


def parse(stream: bytes, sizes: list[int]) -> tuple[np.ndarray, int | None, int]:
    parser = WavStreamParser()
    out: list[np.ndarray] = []
    position, number = 0, 0
    while position < len(stream):
        size = sizes[number % len(sizes)]
        clip = parser.feed(stream[position : position + size])
        if clip is not None:
            out.append(clip.samples)
        position += size
        number += 1
    parser.finish()
    samples = np.concatenate(out) if out else np.zeros(0, np.int16)
    return samples, parser.sample_rate_hz, len(out)


@pytest.mark.parametrize("rate_hz", [32_000, 24_000, 48_000])
@pytest.mark.parametrize("declared", [0, 0xFFFFFFFF, 10])  # streaming 0, "unknown", and a wrong length
@pytest.mark.parametrize("sizes", [[1], [3, 1001, 7], [44], [45, 2]])
def test_any_cut_of_the_stream_gives_the_samples_back_exactly(
    rate_hz: int, declared: int, sizes: list[int]
) -> None:
    audio = pcm(3001)
    samples, got_rate, _ = parse(wav_header(rate_hz, declared) + audio.tobytes(), sizes)
    assert got_rate == rate_hz
    assert np.array_equal(samples, audio)


def test_chunks_come_out_as_soon_as_whole_samples_arrive() -> None:
    parser = WavStreamParser()
    assert parser.feed(wav_header(32_000, 0)[:20]) is None
    assert parser.feed(wav_header(32_000, 0)[20:] + b"\x01") is None  # half a sample waits
    clip = parser.feed(b"\x02\x03")
    assert clip is not None and clip.samples.tolist() == [0x0201]


def test_chunks_before_data_are_skipped_and_stereo_is_mixed_down() -> None:
    fmt = struct.pack("<IHHIIHH", 16, 1, 2, 24_000, 96_000, 4, 16)
    listing = b"LIST" + struct.pack("<I", 5) + b"INFOx\x00"  # an odd size, padded
    stereo = np.array([100, 300, -100, -300], dtype=np.int16)
    stream = b"RIFF\x00\x00\x00\x00WAVEfmt " + fmt + listing + b"data\x00\x00\x00\x00" + stereo.tobytes()
    samples, rate, _ = parse(stream, [5])
    assert rate == 24_000 and samples.tolist() == [200, -200]


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (b'{"message": "tts failed"}', "not a WAV stream"),
        (b"", "no audio at all"),
        (b"RIFF\x00\x00\x00\x00WAVE", "not a WAV stream"),
        (b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00", "no format chunk"),
    ],
)
def test_what_is_not_a_wav_stream_is_one_clear_error(stream: bytes, message: str) -> None:
    parser = WavStreamParser("GPT-SoVITS")
    with pytest.raises(BackendError, match=message):
        parser.feed(stream)
        parser.finish()


def test_float_audio_is_refused_with_the_fix() -> None:
    fmt = struct.pack("<IHHIIHH", 16, 3, 1, 32_000, 128_000, 4, 32)
    with pytest.raises(BackendError, match="16-bit"):
        WavStreamParser().feed(b"RIFF\x00\x00\x00\x00WAVEfmt " + fmt + b"data\x00\x00\x00\x00")
