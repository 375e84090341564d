from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from localvoice.audio.wav import read_audio, to_float32, to_int16, write_wav
from localvoice.errors import BadInputError
from localvoice.events import AudioClip


def tone(
    rate_hz: int, seconds: float = 0.5, freq_hz: float = 440.0, amp: float = 0.5
) -> npt.NDArray[np.float64]:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return amp * np.sin(2 * np.pi * freq_hz * t)


def peak_hz(samples: npt.NDArray[np.int16], rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate_hz)[np.argmax(spectrum)])


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("rate_hz", [8000, 16000, 22050, 44100, 48000])
def test_any_width_and_rate_becomes_16k_mono_int16(tmp_path: Path, subtype: str, rate_hz: int) -> None:
    path = tmp_path / "in.wav"
    sf.write(path, tone(rate_hz), rate_hz, subtype=subtype)

    clip = read_audio(path)

    assert clip.sample_rate_hz == 16000 and clip.samples.dtype == np.int16 and clip.samples.ndim == 1
    assert abs(len(clip.samples) - 8000) <= 1
    assert peak_hz(clip.samples, 16000) == pytest.approx(440, abs=3)
    middle = clip.samples[1000:-1000].astype(np.float64) / 32768
    assert np.max(np.abs(middle)) == pytest.approx(0.5, abs=0.02)


def test_16_bit_mono_at_target_rate_reads_bit_for_bit(tmp_path: Path) -> None:
    samples = np.random.default_rng(1).integers(-32768, 32767, 4000, dtype=np.int16)
    path = tmp_path / "exact.wav"
    sf.write(path, samples, 16000, subtype="PCM_16")
    assert np.array_equal(read_audio(path).samples, samples)


def test_channels_are_averaged(tmp_path: Path) -> None:
    left = tone(16000, amp=0.6)
    six = np.stack([left, np.zeros_like(left), left, left, np.zeros_like(left), np.zeros_like(left)], axis=1)
    path = tmp_path / "surround.wav"
    sf.write(path, six, 16000, subtype="PCM_16")
    clip = read_audio(path)
    assert np.max(np.abs(clip.samples)) / 32768 == pytest.approx(0.3, abs=0.01)


def test_other_target_rate(tmp_path: Path) -> None:
    path = tmp_path / "in.wav"
    sf.write(path, tone(16000, seconds=1.0), 16000, subtype="PCM_16")
    clip = read_audio(path, target_rate_hz=24000)
    assert clip.sample_rate_hz == 24000 and len(clip.samples) == 24000


@pytest.mark.parametrize(("extension", "subtype"), [("flac", "PCM_16"), ("ogg", "VORBIS")])
def test_flac_and_ogg(tmp_path: Path, extension: str, subtype: str) -> None:
    path = tmp_path / f"in.{extension}"
    sf.write(path, tone(48000, seconds=1.0), 48000, subtype=subtype)
    clip = read_audio(path)
    assert abs(clip.duration_s - 1.0) < 0.01
    assert peak_hz(clip.samples, 16000) == pytest.approx(440, abs=3)


def _valid_wav(tmp_path: Path, name: str = "ok.wav", extension_format: str = "WAV") -> Path:
    path = tmp_path / name
    sf.write(path, tone(16000), 16000, subtype="PCM_16", format=extension_format)
    return path


def _truncated_wav(tmp_path: Path) -> Path:
    data = _valid_wav(tmp_path).read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_flac(tmp_path: Path) -> Path:
    data = _valid_wav(tmp_path, "ok.flac", "FLAC").read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 2])
    return path


def _empty_wav(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    return path


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    return path


def _header_only(tmp_path: Path) -> Path:
    path = tmp_path / "header.wav"
    path.write_bytes(_valid_wav(tmp_path).read_bytes()[:20])
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: tmp / "missing.wav", "does not exist"),
        (lambda tmp: tmp, "does not exist"),  # a directory
        (_text_file, "not a readable audio file"),
        (_header_only, "not a readable audio file"),
        (_empty_wav, "no audio"),
        (_truncated_wav, "truncated"),
        (_truncated_flac, "truncated"),
    ],
)
def test_unusable_files_are_bad_input_naming_the_file(tmp_path: Path, make: object, words: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(BadInputError, match=words) as raised:
        read_audio(path)
    assert str(path) in str(raised.value)
    assert raised.value.exit_code == 2


def test_streamed_wav_with_unknown_size_is_accepted(tmp_path: Path) -> None:
    data = bytearray(_valid_wav(tmp_path).read_bytes())
    data_at = data.index(b"data")
    data[data_at + 4 : data_at + 8] = b"\xff\xff\xff\xff"  # what ffmpeg writes to a pipe
    path = tmp_path / "piped.wav"
    path.write_bytes(bytes(data))
    assert len(read_audio(path).samples) == 8000


def test_write_wav_round_trips_and_leaves_no_temp_file(tmp_path: Path) -> None:
    samples = np.random.default_rng(2).integers(-32768, 32767, 24000, dtype=np.int16)
    out = tmp_path / "sub" / "out.wav"
    write_wav(out, AudioClip(samples, 24000))
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
    assert np.array_equal(read_audio(out, target_rate_hz=24000).samples, samples)
    assert [p.name for p in out.parent.iterdir()] == ["out.wav"]


def test_write_wav_failure_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    write_wav(out, AudioClip(np.ones(100, dtype=np.int16), 16000))
    with pytest.raises(Exception):  # noqa: B017 - any error; what matters is what is left on disk
        write_wav(out, AudioClip(np.ones(100, dtype=np.int16), 0))
    assert len(read_audio(out).samples) == 100
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_float_conversion_clips_and_round_trips() -> None:
    pcm = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    assert np.array_equal(to_int16(to_float32(pcm)), pcm)
    assert to_float32(pcm).dtype == np.float32
    assert to_int16(np.array([-2.0, 1.5, 0.5])).tolist() == [-32768, 32767, 16384]
