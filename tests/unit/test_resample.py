from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import soxr

from localvoice.audio.resample import StreamResampler, resample


def tone_pcm(rate_hz: int, seconds: float = 1.0, freq_hz: float = 1000.0) -> npt.NDArray[np.int16]:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    samples: npt.NDArray[np.int16] = np.rint(12000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)
    return samples


def peak_hz(samples: npt.NDArray[np.int16], rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate_hz)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("from_hz", "to_hz"), [(48000, 16000), (44100, 16000), (16000, 24000), (22050, 48000)]
)
def test_length_and_tone_frequency_are_kept(from_hz: int, to_hz: int) -> None:
    out = resample(tone_pcm(from_hz), from_hz, to_hz)
    assert out.dtype == np.int16
    assert abs(len(out) - to_hz) <= 1
    assert peak_hz(out, to_hz) == pytest.approx(1000, abs=2)
    assert np.max(np.abs(out[100:-100])) == pytest.approx(12000, rel=0.02)


def test_same_rate_and_empty_input() -> None:
    pcm = tone_pcm(16000, 0.1)
    out = resample(pcm, 16000, 16000)
    assert np.array_equal(out, pcm) and out is not pcm
    assert len(resample(np.zeros(0, dtype=np.int16), 48000, 16000)) == 0


def test_loud_input_clips_instead_of_wrapping() -> None:
    square = np.tile(np.r_[np.full(20, 32767), np.full(20, -32768)], 200).astype(np.int16)
    out = resample(square, 48000, 16000)
    exact = soxr.resample(square.astype(np.float64), 48000, 16000, quality="HQ")
    assert np.max(exact) > 32767  # the filter overshoots full scale ...
    # ... and the int16 result saturates there: a wrapped sample would be ~65536 away.
    assert np.max(np.abs(out - np.clip(exact, -32768, 32767))) <= 2


def test_stream_matches_one_shot_in_frequency_and_length() -> None:
    pcm = tone_pcm(44100, 2.0)
    stream = StreamResampler(44100, 16000)
    parts = [stream.process(pcm[i : i + 882]) for i in range(0, len(pcm), 882)]  # 20 ms blocks
    parts.append(stream.flush())
    out = np.concatenate(parts)
    assert abs(len(out) - 32000) <= 2
    assert peak_hz(out, 16000) == pytest.approx(1000, abs=2)
    reference = resample(pcm, 44100, 16000)
    # Same signal, same alignment: differences are filter detail, far below the tone.
    assert np.max(np.abs(out[500:31000].astype(np.int32) - reference[500:31000])) < 300


def test_stream_at_equal_rates_passes_through() -> None:
    pcm = tone_pcm(16000, 0.1)
    stream = StreamResampler(16000, 16000)
    assert np.array_equal(stream.process(pcm), pcm)
    assert len(stream.flush()) == 0
