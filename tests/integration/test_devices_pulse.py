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


async def scenario_echo_through_the_room(
    speech: str, out: str, stall_every_s: float, stall_s: float
) -> dict[str, float]:
    """The speaker's output comes back into the microphone (a loopback stands in for the room) while
    the reader stalls now and then, as the live loop does while Whisper holds the GIL. Two cancellers
    see the same audio in the same order: one given the devices' times, one without."""
    from localvoice.audio.devices import SoundDeviceSink, SoundDeviceSource
    from localvoice.audio.echo import EchoCanceller
    from localvoice.events import AudioClip

    loop = asyncio.get_running_loop()
    timed, untimed = EchoCanceller(), EchoCanceller()

    def reference(block: Int16, at_s: float) -> None:  # on the audio thread, as in ``localvoice chat``
        loop.call_soon_threadsafe(timed.push_playback, block.copy(), at_s)
        loop.call_soon_threadsafe(untimed.push_playback, block.copy())

    sink = SoundDeviceSink(None, 16000, on_played=reference)
    await sink.start()
    source = SoundDeviceSource(None)
    clip = np.load(speech)
    raw: list[Int16] = []
    cleaned: dict[str, list[Int16]] = {"timed": [], "untimed": []}
    playing: asyncio.Future[int] | None = None
    stall_at = ended_at = float("inf")
    async for block in source.stream_frames():
        if playing is None:
            playing = sink.enqueue(AudioClip(clip, 16000))
            stall_at = time.monotonic() + stall_every_s
        raw.append(block)
        cleaned["timed"].append(timed.process_capture(block, source.last_block_at_s))
        cleaned["untimed"].append(untimed.process_capture(block))
        if time.monotonic() >= stall_at:
            time.sleep(stall_s)  # blocks the loop: capture and playback pile up meanwhile
            stall_at += stall_every_s
        if playing.done() and ended_at == float("inf"):
            ended_at = time.monotonic()
        if time.monotonic() > ended_at + 0.5:
            break
    await source.aclose()
    await sink.aclose()
    np.savez(
        out,
        raw=np.concatenate(raw),
        timed=np.concatenate(cleaned["timed"]),
        untimed=np.concatenate(cleaned["untimed"]),
    )
    return {"dropped": source.dropped_blocks}


def test_echo_through_the_room_is_cancelled_by_the_devices_clock(pulse: PulseServer, tmp_path: Path) -> None:
    from localvoice.audio import echo

    if not echo.available():
        pytest.fail("livekit (WebRTC AEC3) is missing: make setup installs it")
    speech = Path(__file__).resolve().parents[1] / "fixtures" / "speech" / "bench"
    clips = [sf.read(path, dtype="int16")[0] for path in sorted(speech.glob("zh_*.wav"))[:6]]
    np.save(tmp_path / "reply.npy", np.concatenate(clips))
    # The room: the speaker's output back into the microphone 60 ms later. adjust_time=0 keeps that
    # delay fixed, as in a room (by default the loopback keeps re-tuning its rate and latency).
    module = pulse.run("pactl", "load-module", "module-loopback", "source=spk.monitor", "sink=mic",
                       "latency_msec=60", "adjust_time=0").stdout.decode().strip()  # fmt: skip
    try:
        result = run_scenario(
            pulse.env,
            f"{HERE}:scenario_echo_through_the_room",
            speech=str(tmp_path / "reply.npy"),
            out=str(tmp_path / "heard.npz"),
            stall_every_s=1.5,
            stall_s=0.6,
        )
    finally:
        pulse.run("pactl", "unload-module", module)
    heard = np.load(tmp_path / "heard.npz")
    raw = heard["raw"].astype(np.float64)
    loud = np.flatnonzero(loud_blocks(heard["raw"], 16000))
    assert loud.size * BLOCK_S > 3.0, "the speaker's output never reached the microphone"
    # From 1.5 s into the echo (AEC3 has converged) to its end.
    first, last = int((loud[0] * BLOCK_S + 1.5) * 16000), int((loud[-1] + 1) * BLOCK_S * 16000)

    def reduction_db(cleaned: Int16) -> float:
        part = cleaned[first:last].astype(np.float64)
        return float(10 * np.log10(np.mean(raw[first:last] ** 2) / (np.mean(part**2) + 1e-9)))

    timed, untimed = reduction_db(heard["timed"]), reduction_db(heard["untimed"])
    assert timed >= 20.0, (timed, untimed, result)
    assert untimed < timed - 10.0, (timed, untimed, result)  # the times are what keeps it in step
