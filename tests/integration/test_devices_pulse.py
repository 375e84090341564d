"""Real-time audio through a private PulseAudio with null sinks (tests/pulse_null_sinks.py).

Unlike the ALSA file device these run at the pace of audio, so they check pacing loosely (is a
1 s clip about 1 s long?) — correctness, not speed. Skipped where PulseAudio is not installed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from tests.alsa_file_device import run_scenario
from tests.pulse_null_sinks import PulseServer, pulse_null_sinks

pytestmark = pytest.mark.slow
HERE = "tests.integration.test_devices_pulse"
Int16 = npt.NDArray[np.int16]
BLOCK_S = 0.02


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("sounddevice", exc_type=ImportError)
    with pulse_null_sinks(tmp_path_factory.mktemp("pulse")) as server:
        yield server


def tone(rate_hz: int, seconds: float, freq_hz: float = 1000.0) -> Int16:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    samples: Int16 = np.rint(10000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)
    return samples


def loud_blocks(samples: Int16, rate_hz: int) -> npt.NDArray[np.bool_]:
    """Which 20 ms blocks carry the tone (RMS well above silence)."""
    size = int(rate_hz * BLOCK_S)
    blocks = samples[: len(samples) // size * size].astype(np.float64).reshape(-1, size)
    loud: npt.NDArray[np.bool_] = np.sqrt((blocks**2).mean(axis=1)) > 1000
    return loud


# ---- scenarios: run inside the subprocess ----


async def scenario_play_timed(seconds: float) -> dict[str, float]:
    from localvoice.audio.devices import SoundDeviceSink
    from localvoice.events import AudioClip

    sink = SoundDeviceSink(None, 24000)
    await sink.start()
    started = time.monotonic()
    played = await sink.enqueue(AudioClip(tone(24000, seconds), 24000))
    await sink.drain()
    elapsed = time.monotonic() - started
    await sink.aclose()
    return {"elapsed_s": elapsed, "played": played}


async def scenario_capture_paplay(wav: str, out: str, seconds: float) -> dict[str, float]:
    from localvoice.audio.devices import SoundDeviceSource

    source = SoundDeviceSource(None)
    blocks: list[Int16] = []
    player: asyncio.subprocess.Process | None = None
    started = time.monotonic()
    async for block in source.stream_frames():
        if player is None:  # the microphone is open: speak into it
            started = time.monotonic()
            player = await asyncio.create_subprocess_exec("paplay", "-d", "mic", wav)
        blocks.append(block)
        if len(blocks) * BLOCK_S >= seconds:
            break
    elapsed = time.monotonic() - started
    await source.aclose()
    assert player is not None
    await player.wait()
    np.save(out, np.concatenate(blocks))
    return {"elapsed_s": elapsed, "dropped": source.dropped_blocks}


async def scenario_clear(out: str) -> dict[str, float]:
    from localvoice.audio.devices import SoundDeviceSink
    from localvoice.events import AudioClip

    recorder = await asyncio.create_subprocess_exec(
        "parec", "-d", "spk.monitor", "--format=s16le", "--rate=16000", "--channels=1", "--raw",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    sink = SoundDeviceSink(None, 16000)
    await sink.start()
    future = sink.enqueue(AudioClip(tone(16000, 3.0), 16000))
    await asyncio.sleep(0.5)
    sink.clear()
    played = await future
    await asyncio.sleep(1.0)
    await sink.aclose()
    recorder.terminate()
    recorded, _ = await recorder.communicate()
    np.save(out, np.frombuffer(recorded, dtype=np.int16))
    return {"played": played}


# ---- tests ----


def test_sink_plays_a_clip_in_about_real_time(pulse: PulseServer) -> None:
    result = run_scenario(pulse.env, f"{HERE}:scenario_play_timed", seconds=1.0)
    assert result["played"] == 24000
    assert 0.8 <= result["elapsed_s"] <= 2.5


def test_paplay_into_the_mic_arrives_through_the_source(pulse: PulseServer, tmp_path: Path) -> None:
    wav = tmp_path / "question.wav"
    sf.write(wav, np.r_[tone(48000, 1.0), np.zeros(48000 // 2, dtype=np.int16)], 48000, subtype="PCM_16")
    result = run_scenario(
        pulse.env, f"{HERE}:scenario_capture_paplay", wav=str(wav), out=str(tmp_path / "got.npy"), seconds=2.5
    )
    got = np.load(tmp_path / "got.npy")
    loud = loud_blocks(got, 16000)
    assert 0.8 <= loud.sum() * BLOCK_S <= 1.2  # the 1 s tone, not more, not less
    spectrum = np.abs(np.fft.rfft(got.astype(np.float64)))
    assert np.fft.rfftfreq(len(got), 1 / 16000)[np.argmax(spectrum)] == pytest.approx(1000, abs=2)
    assert 2.0 <= result["elapsed_s"] <= 4.0  # 2.5 s of capture took about 2.5 s: paced, not flooded
    assert result["dropped"] == 0


def test_clear_silences_the_speaker(pulse: PulseServer, tmp_path: Path) -> None:
    result = run_scenario(pulse.env, f"{HERE}:scenario_clear", out=str(tmp_path / "heard.npy"))
    heard_s = loud_blocks(np.load(tmp_path / "heard.npy"), 16000).sum() * BLOCK_S
    assert 0.2 * 16000 <= result["played"] <= 1.2 * 16000  # cut about 0.5 s into a 3 s clip
    assert 0.2 <= heard_s <= 1.2
    assert heard_s == pytest.approx(result["played"] / 16000, abs=0.25)
