"""Microphone and speaker through sounddevice (PortAudio): the only place threads meet the event loop.

Audio callbacks run on PortAudio's thread and hand blocks to the loop with ``call_soon_threadsafe``.
Devices run at their own rate and channel count; conversion to 16 kHz mono int16 (capture) and from
the clip's rate (playback) happens here, at the edge. ``sounddevice`` is imported lazily: importing it
loads PortAudio, which may be missing, and initialises ALSA once per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np

from localvoice.audio.resample import StreamResampler, resample
from localvoice.audio.sample_clock import SampleClock
from localvoice.errors import AudioDeviceError, MissingExtraError
from localvoice.events import INPUT_RATE_HZ, OUTPUT_RATE_HZ, AudioClip, Pcm

Kind = Literal["input", "output"]
PORTAUDIO_HINT = (
    "install PortAudio (Debian/Ubuntu: sudo apt-get install libportaudio2; macOS: brew install portaudio)"
)


def load_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing package or PortAudio library into a one-line error."""
    try:
        import sounddevice
    except ImportError as error:
        raise MissingExtraError(
            "Live audio needs the sounddevice package: pip install 'localvoice[audio]'."
        ) from error
    except OSError as error:  # sounddevice found, libportaudio not
        raise AudioDeviceError(f"The PortAudio library is missing: {PORTAUDIO_HINT}.") from error
    module: ModuleType = sounddevice
    return module


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_rate_hz: int
    is_default_input: bool
    is_default_output: bool

    def channels(self, kind: Kind) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels

    def is_default(self, kind: Kind) -> bool:
        return self.is_default_input if kind == "input" else self.is_default_output


def list_devices() -> list[DeviceInfo]:
    sd = load_sounddevice()
    default_in, default_out = _default_indices(sd)
    return [
        DeviceInfo(
            index=int(device["index"]),
            name=str(device["name"]),
            max_input_channels=int(device["max_input_channels"]),
            max_output_channels=int(device["max_output_channels"]),
            default_rate_hz=round(float(device["default_samplerate"])),
            is_default_input=int(device["index"]) == default_in,
            is_default_output=int(device["index"]) == default_out,
        )
        for device in sd.query_devices()
    ]


def resolve_device(spec: str, kind: Kind) -> int | None:
    """Device index from a config value: empty → None (the system default), an index, or a
    case-insensitive part of the name (an exact name wins over partial matches)."""
    spec = spec.strip()
    if not spec:
        return None
    candidates = [device for device in list_devices() if device.channels(kind) > 0]
    choices = "; ".join(f"{device.index}: {device.name}" for device in candidates) or "none"
    setting = f"audio.{kind}"
    if spec.isdigit():
        matches = [device for device in candidates if device.index == int(spec)]
    else:
        matches = [device for device in candidates if spec.lower() in device.name.lower()]
        exact = [device for device in matches if device.name.lower() == spec.lower()]
        matches = exact or matches
    if not matches:
        raise AudioDeviceError(f"No {kind} device matches {spec!r}: set {setting} to one of {choices}.")
    if len(matches) > 1:
        names = "; ".join(f"{device.index}: {device.name}" for device in matches)
        raise AudioDeviceError(
            f"{len(matches)} {kind} devices match {spec!r} ({names}): set {setting} to an index or a longer name."
        )
    return matches[0].index


class SoundDeviceSource:
    """Microphone as 16 kHz mono int16 blocks of ``block_ms``.

    Blocks wait in a bounded queue; if the loop falls behind, the oldest are dropped and counted in
    ``dropped_blocks`` (stale audio is worth less than current audio in a conversation). Each block
    yielded comes with the ``time.monotonic()`` its first sample was captured, in ``last_block_at_s``
    (implements ``protocols.CaptureTimes``), for the echo canceller.
    """

    def __init__(
        self,
        device: int | None = None,
        block_ms: int = 20,
        *,
        device_rate_hz: int | None = None,
        channels: int | None = None,
        max_queued_blocks: int = 100,
    ) -> None:
        self.device = device
        self.block_samples = INPUT_RATE_HZ * block_ms // 1000
        self.dropped_blocks = 0
        self.overflows = 0  # PortAudio reported lost input
        self.last_block_at_s: float | None = None
        self._sd = load_sounddevice()
        self.device_rate_hz = device_rate_hz or _default_rate(self._sd, device, "input")
        self.channels = channels or _pick_channels(self._sd, device, "input", self.device_rate_hz)
        self._device_block = max(1, self.device_rate_hz * block_ms // 1000)
        self._queue: asyncio.Queue[tuple[np.ndarray[Any, Any], float] | None] = asyncio.Queue(
            max_queued_blocks
        )
        self._stream: Any = None
        self._closed = False

    async def stream_frames(self) -> AsyncIterator[Pcm]:
        loop = asyncio.get_running_loop()
        resampler = StreamResampler(self.device_rate_hz, INPUT_RATE_HZ)
        capture_clock = SampleClock(INPUT_RATE_HZ)
        pending = np.zeros(0, dtype=np.int16)

        def callback(indata: np.ndarray[Any, Any], frames: int, times: Any, status: Any) -> None:
            if status.input_overflow:
                self.overflows += 1
            age = _stream_delta(times.currentTime, times.inputBufferAdcTime, frames / self.device_rate_hz)
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
                loop.call_soon_threadsafe(self._push, (indata.copy(), time.monotonic() - age))

        self._stream = _open(
            self._sd.InputStream,
            "input",
            self.device,
            samplerate=self.device_rate_hz,
            channels=self.channels,
            dtype="int16",
            blocksize=self._device_block,
            callback=callback,
        )
        try:
            while not self._closed:
                item = await self._queue.get()
                if item is None:
                    break
                block, captured_at = item
                fresh = resampler.process(_downmix(block))
                pending_at = capture_clock.stamp(captured_at, len(fresh)) - len(pending) / INPUT_RATE_HZ
                pending = np.concatenate([pending, fresh])
                while len(pending) >= self.block_samples:
                    self.last_block_at_s = pending_at
                    yield pending[: self.block_samples]
                    pending = pending[self.block_samples :]
                    pending_at += self.block_samples / INPUT_RATE_HZ
        finally:
            await self._close_stream()

    async def aclose(self) -> None:
        self._closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        await self._close_stream()

    def _push(self, block: tuple[np.ndarray[Any, Any], float]) -> None:
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped_blocks += 1
        self._queue.put_nowait(block)

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.to_thread(_shut, stream)


@dataclass(slots=True, eq=False)
class _Queued:
    samples: Pcm  # at the device rate
    clip_samples: int
    future: asyncio.Future[int]
    position: int = 0


class SoundDeviceSink:
    """Speaker that plays clips strictly in order from PortAudio's output callback.

    ``clear()`` takes the queue under the same lock the callback fills a block under, so nothing
    queued reaches the device after it returns: what is still heard is the block already handed over
    plus the device's own buffer (``latency_s``). Futures count samples handed to the device.

    ``playback_reference``, when set, is called *on the audio thread* with every block handed to the
    device (silence included, so it stays time-aligned), resampled to 16 kHz mono, and the
    ``time.monotonic()`` at which it will be heard: the echo canceller's reference. It must be quick
    and thread-safe.
    """

    def __init__(
        self,
        device: int | None = None,
        sample_rate_hz: int = OUTPUT_RATE_HZ,
        *,
        block_ms: int = 20,
        device_rate_hz: int | None = None,
        channels: int | None = None,
        on_played: Callable[[Pcm, float], None] | None = None,
    ) -> None:
        self.device = device
        self.sample_rate_hz = sample_rate_hz
        self.playback_reference = on_played
        self.played_samples = 0  # at the device rate
        self._sd = load_sounddevice()
        self.device_rate_hz = device_rate_hz or _default_rate(self._sd, device, "output")
        self.channels = channels or _pick_channels(self._sd, device, "output", self.device_rate_hz)
        self._device_block = max(1, self.device_rate_hz * block_ms // 1000)
        self._reference = StreamResampler(self.device_rate_hz, INPUT_RATE_HZ)
        self._reference_clock = SampleClock(INPUT_RATE_HZ)
        self._lock = threading.Lock()
        self._queue: deque[_Queued] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None

    @property
    def latency_s(self) -> float:
        return float(self._stream.latency) if self._stream is not None else 0.0

    async def start(self) -> None:
        """Open the device now (otherwise the first ``enqueue`` does), so errors show up early."""
        self._ensure_stream()

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        self._ensure_stream()
        assert self._loop is not None
        future: asyncio.Future[int] = self._loop.create_future()
        samples = resample(clip.samples, clip.sample_rate_hz, self.device_rate_hz)
        if len(samples) == 0:
            future.set_result(len(clip.samples))
            return future
        with self._lock:
            self._queue.append(_Queued(samples, len(clip.samples), future))
        return future

    def clear(self) -> None:
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
        for item in dropped:
            if not item.future.done():
                share = item.position * item.clip_samples // len(item.samples)
                item.future.set_result(min(item.clip_samples, share))

    async def drain(self) -> None:
        while True:
            with self._lock:
                futures = [item.future for item in self._queue]
            if not futures:
                break
            await asyncio.gather(*futures)
        await asyncio.sleep(self.latency_s)  # what was handed over still has to come out

    async def aclose(self) -> None:
        self.clear()
        stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.to_thread(_shut, stream)

    def _ensure_stream(self) -> None:
        if self._stream is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stream = _open(
            self._sd.OutputStream,
            "output",
            self.device,
            samplerate=self.device_rate_hz,
            channels=self.channels,
            dtype="int16",
            blocksize=self._device_block,
            callback=self._callback,
        )

    def _callback(self, outdata: np.ndarray[Any, Any], frames: int, times: Any, status: Any) -> None:
        block = np.zeros(frames, dtype=np.int16)
        finished: list[_Queued] = []
        filled = 0
        with self._lock:
            while filled < frames and self._queue:
                item = self._queue[0]
                take = min(frames - filled, len(item.samples) - item.position)
                block[filled : filled + take] = item.samples[item.position : item.position + take]
                item.position += take
                filled += take
                if item.position == len(item.samples):
                    finished.append(self._queue.popleft())
        outdata[:] = block[:, np.newaxis]
        self.played_samples += filled
        if finished and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self._loop.call_soon_threadsafe(_resolve_all, finished)
        reference = self.playback_reference
        if reference is not None:
            resampled = self._reference.process(block)
            if len(resampled):
                ahead = _stream_delta(times.outputBufferDacTime, times.currentTime, self.latency_s)
                reference(resampled, self._reference_clock.stamp(time.monotonic() + ahead, len(resampled)))


def _stream_delta(later: float, earlier: float, fallback_s: float) -> float:
    """``later - earlier`` on PortAudio's stream clock, or ``fallback_s`` where the host leaves those
    times unset or implausible (some report zeros)."""
    delta = float(later) - float(earlier)
    return delta if 0.0 < delta < 1.0 else fallback_s


def _resolve_all(items: list[_Queued]) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_result(item.clip_samples)


def _downmix(block: np.ndarray[Any, Any]) -> Pcm:
    if block.shape[1] == 1:
        return np.ascontiguousarray(block[:, 0])
    mixed: Pcm = np.rint(block.mean(axis=1)).astype(np.int16)
    return mixed


def _default_indices(sd: ModuleType) -> tuple[int, int]:
    default_in, default_out = sd.default.device
    # -1 means "PortAudio's default", which is what query_devices(kind=...) reports.
    if default_in is None or int(default_in) < 0:
        default_in = _query_default(sd, "input")
    if default_out is None or int(default_out) < 0:
        default_out = _query_default(sd, "output")
    return int(default_in), int(default_out)


def _query_default(sd: ModuleType, kind: Kind) -> int:
    try:
        return int(sd.query_devices(kind=kind)["index"])
    except sd.PortAudioError:
        return -1


def _describe(device: int | None, kind: Kind) -> str:
    return f"the default {kind} device" if device is None else f"{kind} device {device}"


def _default_rate(sd: ModuleType, device: int | None, kind: Kind) -> int:
    try:
        info = sd.query_devices(device, kind=kind)
    except (sd.PortAudioError, ValueError) as error:
        raise AudioDeviceError(
            f"There is no {'default ' + kind + ' device' if device is None else f'{kind} device {device}'} "
            f"({error}): connect one, or pick another with "
            f"`localvoice devices` and --set audio.{kind}=NUMBER."
        ) from error
    return round(float(info["default_samplerate"]))


def _pick_channels(sd: ModuleType, device: int | None, kind: Kind, rate_hz: int) -> int:
    """Mono when the device takes it (most do, converting), else the fewest channels it accepts."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    maximum = int(sd.query_devices(device, kind=kind)[f"max_{kind}_channels"])
    for channels in dict.fromkeys((1, 2, maximum)):
        if 0 < channels <= maximum:
            try:
                check(device=device, channels=channels, dtype="int16", samplerate=rate_hz)
            except (sd.PortAudioError, ValueError):
                continue
            return channels
    raise AudioDeviceError(
        f"The {_describe(device, kind)} accepts no 16-bit format at {rate_hz} Hz: pick another with "
        f"`localvoice devices` and --set audio.{kind}=NUMBER."
    )


def _open(factory: Callable[..., Any], kind: Kind, device: int | None, **settings: Any) -> Any:
    sd = load_sounddevice()
    stream = None
    try:
        stream = factory(device=device, latency="low", **settings)
        stream.start()
    except (sd.PortAudioError, ValueError) as error:
        if stream is not None:
            _shut(stream)
        raise AudioDeviceError(
            f"Could not open {_describe(device, kind)} ({error}): check that it is connected and not "
            f"in use by another program, or pick another with `localvoice devices` and --set audio.{kind}=NUMBER."
        ) from error
    return stream


def _shut(stream: Any) -> None:
    with contextlib.suppress(Exception):  # closing a device that vanished must not mask the real error
        stream.abort()
    with contextlib.suppress(Exception):
        stream.close()
