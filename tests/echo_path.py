"""A simulated laptop echo path, for testing echo cancellation without a sound card.

The assistant's playback goes through a small speaker (band-limited 200 Hz-6 kHz, a touch of
saturation), travels to the microphone with a delay, is attenuated, and picks up a few room
reflections; the microphone adds low noise. The user's voice is mixed in on top at a chosen level.
Speech comes from espeak-ng, with clearly different voices for the assistant and the user.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

from localvoice.audio.echo import EchoCancellation
from localvoice.events import Pcm

RATE_HZ = 16_000
FloatAudio = npt.NDArray[np.float64]


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(
    text: str, voice: str, pitch: int, out_dir: Path, name: str, words_per_min: int = 165
) -> FloatAudio:
    """Synthesize ``text`` with espeak-ng and return it at 16 kHz as floats in [-1, 1]."""
    wav = out_dir / f"{name}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(words_per_min), "-w", str(wav), text],
        check=True,
        capture_output=True,
    )
    audio, rate_hz = soundfile.read(wav, dtype="float64")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    resampled: FloatAudio = np.asarray(soxr.resample(audio, rate_hz, RATE_HZ), dtype=np.float64)
    return resampled


def rms_db(audio: FloatAudio | Pcm) -> float:
    """Level in dB relative to full scale (int16 input is scaled to [-1, 1] first)."""
    x = audio.astype(np.float64) / (32768.0 if audio.dtype == np.int16 else 1.0)
    return float(10 * np.log10(np.mean(x**2) + 1e-20))


def set_level(audio: FloatAudio, level_db: float) -> FloatAudio:
    """Scale so that the active (non-silent) part has RMS ``level_db`` dBFS."""
    active = audio[np.abs(audio) > 1e-4]
    gain = 10 ** (level_db / 20) / np.sqrt(np.mean(active**2))
    scaled: FloatAudio = audio * gain
    return scaled


def band_pass(audio: FloatAudio, low_hz: float, high_hz: float) -> FloatAudio:
    """Zero-phase band-pass with smooth (raised-cosine) edges, done in the frequency domain."""
    n = len(audio)
    spectrum = np.fft.rfft(audio, n)
    freqs = np.fft.rfftfreq(n, 1 / RATE_HZ)
    gain = np.ones_like(freqs)
    width_low, width_high = low_hz / 2, high_hz / 6
    lo = np.clip((freqs - (low_hz - width_low)) / width_low, 0, 1)
    hi = np.clip(((high_hz + width_high) - freqs) / width_high, 0, 1)
    gain *= 0.5 - 0.5 * np.cos(np.pi * lo)
    gain *= 0.5 - 0.5 * np.cos(np.pi * hi)
    filtered: FloatAudio = np.fft.irfft(spectrum * gain, n)
    return filtered


def room_impulse_response(
    delay_ms: float, rng: np.random.Generator, direct_to_reverb_db: float = 10.0, rt60_s: float = 0.25
) -> FloatAudio:
    """Direct path at ``delay_ms``, a few early reflections, then a diffuse tail decaying by 60 dB in
    ``rt60_s``, ``direct_to_reverb_db`` below the direct sound (the speaker is a hand's width from the
    microphone, so the direct path dominates)."""
    length = int((delay_ms + 1000 * rt60_s) * RATE_HZ / 1000)
    ir = np.zeros(length)
    direct = int(delay_ms * RATE_HZ / 1000)
    ir[direct] = 1.0
    # Early reflections (desk, screen, walls) a few ms after the direct sound, then a diffuse tail.
    for offset_ms, gain in ((2.5, 0.45), (6.0, -0.3), (11.0, 0.2), (19.0, -0.15)):
        ir[direct + int(offset_ms * RATE_HZ / 1000)] += gain
    tail = np.arange(length - direct - int(0.025 * RATE_HZ))
    decay = np.exp(-6.9 * tail / (rt60_s * RATE_HZ))  # amplitude e^-6.9 = -60 dB at rt60_s
    tail_gain = np.sqrt(10 ** (-direct_to_reverb_db / 10) / np.sum(decay**2))
    ir[direct + int(0.025 * RATE_HZ) :] += tail_gain * rng.standard_normal(len(tail)) * decay
    return ir


@dataclass(frozen=True)
class LaptopEchoPath:
    """Playback (floats, what the app sends to the speaker) → what the microphone hears of it."""

    delay_ms: float = 70.0
    echo_level_db: float = -28.0  # RMS dBFS of the echo at the microphone while the assistant talks
    noise_level_db: float = -65.0
    direct_to_reverb_db: float = 10.0
    seed: int = 1

    def echo(self, playback: FloatAudio) -> FloatAudio:
        rng = np.random.default_rng(self.seed)
        speaker = np.tanh(1.5 * band_pass(playback, 200, 6000)) / 1.5  # small speaker, mild saturation
        room = room_impulse_response(self.delay_ms, rng, self.direct_to_reverb_db)
        echo = np.asarray(np.convolve(speaker, room)[: len(playback)], dtype=np.float64)
        return set_level(echo, self.echo_level_db)

    def noise(self, n_samples: int) -> FloatAudio:
        rng = np.random.default_rng(self.seed + 1)
        noise: FloatAudio = rng.standard_normal(n_samples) * 10 ** (self.noise_level_db / 20)
        return noise


def to_pcm(audio: FloatAudio) -> Pcm:
    pcm: Pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    return pcm


def place(audio: FloatAudio, start_s: float, total_samples: int) -> FloatAudio:
    """``audio`` placed at ``start_s`` in a silent track ``total_samples`` long."""
    track = np.zeros(total_samples)
    start = int(start_s * RATE_HZ)
    end = min(total_samples, start + len(audio))
    track[start:end] = audio[: end - start]
    return track


def run_duplex(
    canceller: EchoCancellation,
    playback: Pcm,
    capture: Pcm,
    playback_block: int = 320,
    capture_block: int = 320,
) -> Pcm:
    """Stream both sides through ``canceller`` as a live duplex device would, return the cleaned mic.

    Each playback block is pushed once the capture clock reaches its start (it is handed to the
    speaker then), so the reference always precedes the echo it causes, as on a real device.
    """
    out: list[Pcm] = []
    pushed = 0
    for start in range(0, len(capture), capture_block):
        end = min(start + capture_block, len(capture))
        while pushed < min(end, len(playback)):
            canceller.push_playback(playback[pushed : pushed + playback_block])
            pushed += playback_block
        out.append(canceller.process_capture(capture[start:end]))
    return np.concatenate(out)
