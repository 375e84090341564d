"""Real PortAudio streams through an ALSA device made of files (tests/alsa_file_device.py).

The device is not paced in real time, so these tests check data and order, never timing. Device code
runs in a subprocess (``scenario_*`` functions below) because ALSA reads its config once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.abc
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.alsa_file_device import AlsaFileDevice, alsa_file_device, clean_env, run_scenario

pytestmark = pytest.mark.slow
HERE = "tests.integration.test_devices_alsa"
Int16 = npt.NDArray[np.int16]


@pytest.fixture
def device(tmp_path: Path) -> Any:
    pytest.importorskip("sounddevice", exc_type=ImportError)
    with alsa_file_device(tmp_path) as files:
        yield files


def ramp(n: int) -> Int16:
    """Never zero, so the played part stands out from the silence around it."""
    return (np.arange(n) % 30000 + 1).astype(np.int16)


def tone(rate_hz: int, seconds: float, freq_hz: float = 1000.0) -> Int16:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    samples: Int16 = np.rint(10000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)
    return samples


def peak_hz(samples: Int16, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate_hz)[np.argmax(spectrum)])


def played_part(device: AlsaFileDevice) -> Int16:
    played = np.fromfile(device.playback_path, dtype=np.int16)
    nonzero = np.flatnonzero(played)
    return played[nonzero[0] : nonzero[-1] + 1] if len(nonzero) else played[:0]


# ---- scenarios: run inside the subprocess ----


async def scenario_capture(out: str, samples: int, **options: Any) -> dict[str, Any]:
    from localvoice.audio.devices import SoundDeviceSource

    source = SoundDeviceSource(None, max_queued_blocks=100_000, **options)
    blocks = []
    times: list[float] = []
    async for block in source.stream_frames():
        assert len(block) == source.block_samples
        assert source.last_block_at_s is not None
        times.append(source.last_block_at_s)
        blocks.append(block)
        if sum(map(len, blocks)) >= samples:
            break
    await source.aclose()
    np.save(out, np.concatenate(blocks))
    # Each block is stamped with its capture time (the echo canceller pairs it with the speaker's
    # output by that time); ALSA's file device is not paced, so the spacing is not checked here.
    assert len(times) == len(blocks)
    return {"rate": source.device_rate_hz, "channels": source.channels, "dropped": source.dropped_blocks}


async def scenario_play(clips: list[str], clip_rate_hz: int, **options: Any) -> dict[str, Any]:
    from localvoice.audio.devices import SoundDeviceSink
    from localvoice.events import AudioClip

    started = time.monotonic()
    reference: list[Int16] = []
    heard_at: list[float] = []

    def on_played(block: Int16, at_s: float) -> None:
        reference.append(block)
        heard_at.append(at_s)

    sink = SoundDeviceSink(None, clip_rate_hz, on_played=on_played, **options)
    futures = [sink.enqueue(AudioClip(np.load(path), clip_rate_hz)) for path in clips]
    played = [await future for future in futures]
    await sink.drain()
    await sink.aclose()
    # Each block comes with when it will be heard (not checked further: the file device is not paced).
    assert len(heard_at) == len(reference) and heard_at[0] >= started
    heard = np.concatenate(reference)
    nonzero = np.flatnonzero(heard)
    heard = heard[nonzero[0] : nonzero[-1] + 1]
    np.save(clips[0] + ".reference.npy", heard)
    return {"played": played, "rate": sink.device_rate_hz}


async def scenario_clear(clip: str) -> dict[str, Any]:
    from localvoice.audio.devices import SoundDeviceSink
    from localvoice.events import AudioClip

    sink = SoundDeviceSink(None, 16000, device_rate_hz=16000)
    await sink.start()
    samples = np.load(clip)
    future = sink.enqueue(AudioClip(samples, 16000))
    while sink.played_samples == 0:  # the device runs unpaced: cut as soon as the clip has started
        await asyncio.sleep(0)
    sink.clear()
    played_at_clear = await future
    await asyncio.sleep(0.05)  # the stream keeps running: it must play silence now
    after = sink.played_samples
    await sink.aclose()
    return {"played": played_at_clear, "total": len(samples), "played_after": after}


def scenario_devices() -> dict[str, Any]:
    from localvoice.audio.devices import list_devices, resolve_device
    from localvoice.errors import AudioDeviceError

    def attempt(spec: str, kind: Any) -> Any:
        try:
            return resolve_device(spec, kind)
        except AudioDeviceError as error:
            return f"error: {error}"

    specs = ["", "LOCALVOICE_CAPTURE", "localvoice", "default", "no such mic", "999"]
    return {
        "devices": [(d.name, d.is_default_input, d.is_default_output) for d in list_devices()],
        "resolved": {spec: attempt(spec, "input") for spec in specs},
    }


def scenario_missing_device() -> list[str]:
    from localvoice.audio.devices import SoundDeviceSink, SoundDeviceSource
    from localvoice.errors import AudioDeviceError

    messages = []
    for make in (lambda: SoundDeviceSink(999, 16000), lambda: SoundDeviceSource(999)):
        try:
            make()
        except AudioDeviceError as error:
            messages.append(str(error))
    return messages


def scenario_problems() -> list[str]:
    from localvoice.cli.devices_cmd import describe_audio_problems

    return describe_audio_problems()


def scenario_devices_command() -> str:
    import argparse

    from localvoice.cli.devices_cmd import run_devices
    from localvoice.config import Config

    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert run_devices(argparse.Namespace(), Config()) == 0
    return out.getvalue()


# ---- tests ----


def test_capture_reads_the_file_bit_for_bit(device: AlsaFileDevice, tmp_path: Path) -> None:
    expected = np.random.default_rng(3).integers(-32768, 32767, 16000, dtype=np.int16)
    expected.tofile(device.capture_path)
    result = run_scenario(
        device.env,
        f"{HERE}:scenario_capture",
        out=str(tmp_path / "got.npy"),
        samples=16000,
        device_rate_hz=16000,
    )
    got = np.load(tmp_path / "got.npy")
    assert result == {"rate": 16000, "channels": 1, "dropped": 0}
    assert np.array_equal(got[:16000], expected)


def test_capture_downmixes_stereo(device: AlsaFileDevice, tmp_path: Path) -> None:
    left = np.random.default_rng(4).integers(-16000, 16000, 8000, dtype=np.int16)
    right = -left // 3
    np.stack([left, right], axis=1).tofile(device.capture_path)  # interleaved L R L R
    run_scenario(
        device.env,
        f"{HERE}:scenario_capture",
        out=str(tmp_path / "got.npy"),
        samples=8000,
        device_rate_hz=16000,
        channels=2,
    )
    got = np.load(tmp_path / "got.npy")[:8000]
    expected = np.rint((left.astype(np.float64) + right) / 2).astype(np.int16)
    assert np.max(np.abs(got.astype(np.int32) - expected)) <= 1


def test_capture_at_the_devices_own_rate_is_resampled_to_16k(device: AlsaFileDevice, tmp_path: Path) -> None:
    tone(44100, 2.0).tofile(device.capture_path)  # the file device reports 44.1 kHz by default
    result = run_scenario(
        device.env, f"{HERE}:scenario_capture", out=str(tmp_path / "got.npy"), samples=16000
    )
    got = np.load(tmp_path / "got.npy")[:16000]
    assert result["rate"] == 44100
    assert peak_hz(got, 16000) == pytest.approx(1000, abs=2)
    assert np.max(np.abs(got[2000:])) == pytest.approx(10000, rel=0.03)


def test_playback_writes_clips_in_order(device: AlsaFileDevice, tmp_path: Path) -> None:
    clips = [ramp(4000), -ramp(12000), ramp(320)]
    paths = []
    for i, clip in enumerate(clips):
        paths.append(str(tmp_path / f"clip{i}.npy"))
        np.save(paths[-1], clip)
    result = run_scenario(
        device.env, f"{HERE}:scenario_play", clips=paths, clip_rate_hz=16000, device_rate_hz=16000
    )
    assert result == {"played": [4000, 12000, 320], "rate": 16000}
    # ALSA's file device is not paced: the callback can run dry between two enqueue calls and write a
    # block of silence there, which a real-time device never sees. The ramps hold no zero sample, so
    # dropping zeros compares content and order exactly while tolerating such gaps.
    played = played_part(device)
    assert np.array_equal(played[played != 0], np.concatenate(clips))
    # The echo canceller's reference saw exactly what the device got.
    reference = np.load(paths[0] + ".reference.npy")
    assert np.array_equal(reference, played)


def test_playback_resamples_a_24k_clip_to_the_device_rate(device: AlsaFileDevice, tmp_path: Path) -> None:
    np.save(tmp_path / "clip.npy", tone(24000, 1.0))
    result = run_scenario(
        device.env, f"{HERE}:scenario_play", clips=[str(tmp_path / "clip.npy")], clip_rate_hz=24000
    )
    played = played_part(device)
    assert result == {"played": [24000], "rate": 44100}
    assert abs(len(played) - 44100) < 50
    assert peak_hz(played, 44100) == pytest.approx(1000, abs=2)
    reference = np.load(tmp_path / "clip.npy.reference.npy")  # resampled back to 16 kHz
    assert peak_hz(reference, 16000) == pytest.approx(1000, abs=2)


def test_clear_mid_clip_stops_playback(device: AlsaFileDevice, tmp_path: Path) -> None:
    clip = ramp(60 * 16000)
    np.save(tmp_path / "long.npy", clip)
    result = run_scenario(device.env, f"{HERE}:scenario_clear", clip=str(tmp_path / "long.npy"))
    played = np.fromfile(device.playback_path, dtype=np.int16)
    nonzero = np.flatnonzero(played)
    assert 0 < result["played"] < result["total"]
    # Exactly the samples the future reported reached the device, then only silence ...
    assert np.array_equal(played[nonzero[0] : nonzero[-1] + 1], clip[: result["played"]])
    # ... though the stream kept running after the clear.
    assert result["played_after"] == result["played"]
    assert len(played) > nonzero[-1] + 1000


def test_list_and_resolve_devices(device: AlsaFileDevice) -> None:
    result = run_scenario(device.env, f"{HERE}:scenario_devices")
    assert ["default", True, True] in result["devices"]
    names = [name for name, *_ in result["devices"]]
    resolved = result["resolved"]
    assert resolved[""] is None
    assert resolved["LOCALVOICE_CAPTURE"] == names.index("localvoice_capture")
    assert resolved["default"] == names.index("default")  # exact name beats "sysdefault" etc.
    assert resolved["localvoice"].startswith("error: 2 input devices match")
    assert "localvoice_capture" in resolved["no such mic"] and "audio.input" in resolved["no such mic"]
    assert resolved["999"].startswith("error: No input device matches '999'")


def test_missing_device_is_a_clear_error(device: AlsaFileDevice) -> None:
    messages = run_scenario(device.env, f"{HERE}:scenario_missing_device")
    assert len(messages) == 2
    assert "output device 999" in messages[0] and "localvoice devices" in messages[0]
    assert "input device 999" in messages[1]


def test_devices_command_lists_and_marks_defaults(device: AlsaFileDevice) -> None:
    output = run_scenario(device.env, f"{HERE}:scenario_devices_command")
    assert "localvoice_capture" in output and "localvoice_playback" in output
    default_line = next(line for line in output.splitlines() if " default " in f" {line} ")
    assert "*" in default_line


def test_doctor_finds_no_problem_with_working_devices(device: AlsaFileDevice) -> None:
    assert run_scenario(device.env, f"{HERE}:scenario_problems") == []


@pytest.mark.allow_skip(reason="needs a machine without a sound card")
def test_doctor_and_devices_command_without_any_device(tmp_path: Path) -> None:
    pytest.importorskip("sounddevice", exc_type=ImportError)
    home = tmp_path / "home"
    home.mkdir()
    cards = Path("/proc/asound/cards")
    if cards.exists() and "no soundcards" not in cards.read_text():
        pytest.skip("this machine has a sound card")  # an empty ALSA config makes PortAudio abort
    env = clean_env(home)  # no ~/.asoundrc and no card: ALSA offers no device
    problems = run_scenario(env, f"{HERE}:scenario_problems")
    assert [p.split(" (")[0] for p in problems] == ["No microphone", "No speaker"]
    assert all("localvoice turn" in p for p in problems)
    output = run_scenario(env, f"{HERE}:scenario_devices_command")
    assert "Microphones: none found" in output and "Speakers: none found" in output


class _BrokenPortAudio(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")


def test_missing_sounddevice_or_portaudio_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from localvoice.audio.devices import load_sounddevice
    from localvoice.errors import AudioDeviceError, MissingExtraError

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'localvoice\[audio\]'"):
        load_sounddevice()
    monkeypatch.delitem(sys.modules, "sounddevice")
    monkeypatch.setattr(sys, "meta_path", [_BrokenPortAudio(), *sys.meta_path])
    with pytest.raises(AudioDeviceError, match="libportaudio2"):
        load_sounddevice()
