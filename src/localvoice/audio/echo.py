"""Acoustic echo cancellation, so the assistant does not hear itself through the speakers.

``EchoCanceller`` wraps WebRTC's AEC3 as shipped by the ``livekit`` package
(``livekit.rtc.AudioProcessingModule``, no LiveKit server involved). AEC3 works on 10 ms frames; this
class accepts blocks of any length and frames them itself.

Timing contract (the one thing that makes or breaks AEC3):

- Call ``push_playback`` with each block *as it is handed to the speaker* (from the output callback
  or the writer that feeds it), at the capture rate. It only stores the block: it is cheap and safe
  to call from another thread than ``process_capture``.
- Call ``process_capture`` with each microphone block as it arrives. Before each 10 ms capture frame
  it feeds AEC3 the playback that goes with it, so the reference always reaches AEC3 before the echo
  it explains (fed the other way round AEC3 removes only 1-6 dB).
- Give both calls ``at_s`` (the clock time the block's first sample reached the speaker, or was
  captured) wherever the device tells it. Each capture frame is then paired with what was playing at
  that moment (``ReferenceTimeline``), however late either call comes. Without times, playback frames
  queue and are fed before the captures that follow their push. That slides whenever the two sides
  run unevenly: measured in ``bench turn_taking``, a reader that fell behind put the reference 0.5 s
  ahead of its echo and 45 dB of cancellation fell to 1-8 dB, the residue heard as speech.
- AEC3 finds echo delays by itself up to roughly 480 ms. On a system whose output latency is longer
  (Bluetooth, large buffers), set ``reference_delay_ms`` to about the known excess: the reference is
  then held back by that much capture time before AEC3 sees it. Keep it below the real delay: a
  reference that reaches AEC3 after its echo cancels next to nothing (seen: 6 dB instead of 45).

Latency: ``process_capture`` returns every complete 10 ms frame at once, cleaned, and holds back only
the samples of an unfinished frame (fewer than 10 ms) until the next call. Blocks that are a multiple
of 10 ms (the default 20 ms audio block) therefore come back whole, with no added delay.
"""

from __future__ import annotations

import threading
from collections import deque
from functools import cache
from typing import Any, Protocol

import numpy as np

from localvoice.audio.echo_timeline import ReferenceTimeline
from localvoice.audio.linear_echo import LinearEchoFilter
from localvoice.errors import BadInputError, MissingExtraError
from localvoice.events import INPUT_RATE_HZ, Pcm

FRAME_MS = 10
SUPPORTED_RATES_HZ = (8_000, 16_000, 32_000, 48_000)
# The words audio follows AEC3's output again this long after the speaker fell silent (1 s).
_ECHO_FADES_FRAMES = 100
# Playback queued while nobody reads the microphone is dropped beyond this, oldest first.
MAX_QUEUED_PLAYBACK_S = 2.0


class EchoCancellation(Protocol):
    """What the conversation needs from an echo canceller (real or passthrough)."""

    @property
    def active(self) -> bool: ...

    def push_playback(self, pcm: Pcm, at_s: float | None = None) -> None: ...

    def process_capture(self, pcm: Pcm, at_s: float | None = None) -> Pcm: ...

    def words_audio(self) -> Pcm | None:
        """The stretch the last ``process_capture`` returned, for the recogniser: echo subtracted,
        nothing ducked (``LinearEchoFilter``). None: no different from what it returned."""
        ...


@cache
def available() -> bool:
    """True when WebRTC AEC3 (the ``livekit`` package) can be loaded on this machine."""
    try:
        import livekit.rtc  # noqa: F401
    except (ImportError, OSError):  # OSError: the native library exists but will not load
        return False
    return True


def _check_pcm(pcm: Pcm, what: str) -> Pcm:
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16 or pcm.ndim != 1:
        kind = f"{pcm.dtype} array of shape {pcm.shape}" if isinstance(pcm, np.ndarray) else type(pcm)
        raise BadInputError(f"Echo canceller {what} must be mono int16 samples, not {kind}.")
    return pcm


class EchoCanceller:
    """WebRTC AEC3 echo cancellation (plus optional noise suppression) on 16-bit mono audio."""

    active = True

    def __init__(
        self,
        sample_rate_hz: int = INPUT_RATE_HZ,
        noise_suppression: bool = True,
        reference_delay_ms: int = 0,
        high_pass_filter: bool = True,
    ) -> None:
        if sample_rate_hz not in SUPPORTED_RATES_HZ:
            rates = ", ".join(str(r) for r in SUPPORTED_RATES_HZ)
            raise BadInputError(
                f"Echo cancellation works at {rates} Hz, not {sample_rate_hz} Hz: resample the audio first."
            )
        if reference_delay_ms < 0:
            raise BadInputError(f"Echo reference delay must be 0 ms or more, not {reference_delay_ms} ms.")
        if not available():
            raise MissingExtraError(
                "Echo cancellation needs the livekit package: run pip install 'localvoice[audio]'"
                " or use half-duplex mode."
            )
        from livekit import rtc

        self.sample_rate_hz = sample_rate_hz
        self.frame_samples = sample_rate_hz * FRAME_MS // 1000
        self.reference_delay_ms = reference_delay_ms
        # Whole frames, rounded: AEC3 tolerates the rest of the delay itself.
        self._delay_frames = round(reference_delay_ms / FRAME_MS)
        self._apm: Any = rtc.AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=noise_suppression,
            high_pass_filter=high_pass_filter,
        )
        # One reusable buffer each way: AudioFrame wraps it and AEC3 works on it in place.
        self._capture_buf = bytearray(self.frame_samples * 2)
        self._capture_frame: Any = rtc.AudioFrame(self._capture_buf, sample_rate_hz, 1, self.frame_samples)
        self._render_buf = bytearray(self.frame_samples * 2)
        self._render_frame: Any = rtc.AudioFrame(self._render_buf, sample_rate_hz, 1, self.frame_samples)

        self._lock = threading.Lock()  # guards the playback queue, shared with the output thread
        self._playback_rest = np.zeros(0, dtype=np.int16)
        # (capture frame index at push time, frame): a frame is due once capture passed index + delay.
        self._playback: deque[tuple[int, Pcm]] = deque()
        self._max_queued = int(MAX_QUEUED_PLAYBACK_S * 1000 / FRAME_MS) + self._delay_frames
        self._timeline = ReferenceTimeline(sample_rate_hz, MAX_QUEUED_PLAYBACK_S + reference_delay_ms / 1000)
        self._capture_rest = np.zeros(0, dtype=np.int16)
        self._captured_frames = 0
        self._linear = LinearEchoFilter(self.frame_samples, sample_rate_hz)
        # Reference frames fed to AEC3, each waiting for the capture frame the linear filter pairs it
        # with (one each when timed; untimed, as many as the pushes brought, the oldest dropped).
        self._for_linear: deque[Pcm] = deque(maxlen=int(MAX_QUEUED_PLAYBACK_S * 1000 / FRAME_MS))
        self._silence = np.zeros(self.frame_samples, dtype=np.int16)
        self._words: Pcm | None = None
        self._since_playback = _ECHO_FADES_FRAMES  # capture frames since the reference last sounded

    def push_playback(self, pcm: Pcm, at_s: float | None = None) -> None:
        """Store what goes to the speaker now, at ``sample_rate_hz``, as the echo reference.

        ``at_s``: clock time its first sample reaches the speaker (see the timing contract).
        """
        pcm = _check_pcm(pcm, "playback")
        with self._lock:
            if at_s is not None:
                self._timeline.lay(pcm, at_s + self.reference_delay_ms / 1000)
                return
            data = np.concatenate((self._playback_rest, pcm)) if len(self._playback_rest) else pcm
            whole = len(data) - len(data) % self.frame_samples
            for start in range(0, whole, self.frame_samples):
                self._playback.append((self._captured_frames, data[start : start + self.frame_samples]))
            self._playback_rest = data[whole:].copy()
            while len(self._playback) > self._max_queued:
                self._playback.popleft()

    def process_capture(self, pcm: Pcm, at_s: float | None = None) -> Pcm:
        """Return the microphone audio with the speaker's echo removed.

        ``at_s``: clock time its first sample was captured (see the timing contract). The result holds
        every complete 10 ms frame available so far; the samples of an unfinished frame wait for the
        next call (so the result may be up to 10 ms shorter or longer than ``pcm``).
        """
        pcm = _check_pcm(pcm, "capture")
        rest = len(self._capture_rest)
        data = np.concatenate((self._capture_rest, pcm)) if rest else pcm
        first_at = None if at_s is None else at_s - rest / self.sample_rate_hz
        whole = len(data) - len(data) % self.frame_samples
        out = np.empty(whole, dtype=np.int16)
        words = np.empty(whole, dtype=np.int16)
        unducked = False  # some frame of the words audio came from the linear filter
        out_view = memoryview(self._capture_buf).cast("h")
        for start in range(0, whole, self.frame_samples):
            if first_at is not None and self._timeline.used:
                self._feed_playback_at(first_at + start / self.sample_rate_hz)
            else:
                self._feed_due_playback()
            captured = data[start : start + self.frame_samples]
            self._capture_buf[:] = captured.tobytes()
            self._apm.process_stream(self._capture_frame)
            cleaned = out[start : start + self.frame_samples]
            cleaned[:] = out_view
            reference = self._for_linear.popleft() if self._for_linear else self._silence
            linear = self._linear.process(
                reference, captured, adapt=_mostly_echo(reference, captured, cleaned)
            )
            self._since_playback = 0 if _level(reference) > 1e2 else self._since_playback + 1
            # AEC3's output wherever the linear filter is not (yet) removing the echo well, and once
            # the speaker has been silent a while (no echo to duck the user any more).
            use_linear = self._since_playback < _ECHO_FADES_FRAMES and self._linear.working
            words[start : start + self.frame_samples] = linear if use_linear else cleaned
            unducked = unducked or use_linear
            self._captured_frames += 1
        self._capture_rest = data[whole:].copy()
        self._words = words if unducked else None
        return out

    def words_audio(self) -> Pcm | None:
        return self._words

    @property
    def pending_capture_samples(self) -> int:
        """Microphone samples held back until their 10 ms frame is complete."""
        return len(self._capture_rest)

    def _feed_playback_at(self, capture_at: float) -> None:
        """One reference frame, exactly what played while this capture frame was recorded."""
        with self._lock:
            frame = self._timeline.take(capture_at, self.frame_samples)
        self._for_linear.append(frame)
        self._render_buf[:] = frame.tobytes()
        self._apm.process_reverse_stream(self._render_frame)

    def _feed_due_playback(self) -> None:
        due: list[Pcm] = []
        with self._lock:
            while self._playback and self._playback[0][0] + self._delay_frames <= self._captured_frames:
                due.append(self._playback.popleft()[1])
        for frame in due:
            self._for_linear.append(frame)
            self._render_buf[:] = frame.tobytes()
            self._apm.process_reverse_stream(self._render_frame)


def _level(pcm: Pcm) -> float:
    return float(np.mean(pcm.astype(np.float64) ** 2))


def _mostly_echo(reference: Pcm, captured: Pcm, cleaned: Pcm) -> bool:
    """The speaker is playing and AEC3 removed at least 12 dB: train the linear filter on this frame
    (never on the user's voice, which AEC3 lets through)."""
    heard = _level(captured)
    return _level(reference) > 1e2 and heard > 1e2 and _level(cleaned) < heard * 10 ** (-12 / 10)


class NullEchoCanceller:
    """Passthrough with the same interface, for half-duplex mode or when AEC3 is unavailable."""

    active = False

    def __init__(self, sample_rate_hz: int = INPUT_RATE_HZ) -> None:
        self.sample_rate_hz = sample_rate_hz

    def push_playback(self, pcm: Pcm, at_s: float | None = None) -> None:
        _check_pcm(pcm, "playback")

    def process_capture(self, pcm: Pcm, at_s: float | None = None) -> Pcm:
        return _check_pcm(pcm, "capture")

    def words_audio(self) -> None:
        return None


def make_echo_canceller(
    enabled: bool, sample_rate_hz: int = INPUT_RATE_HZ, reference_delay_ms: int = 0
) -> EchoCanceller | NullEchoCanceller:
    """The real canceller when wanted and installed, else the passthrough (check ``.active``)."""
    if enabled and available():
        return EchoCanceller(sample_rate_hz, reference_delay_ms=reference_delay_ms)
    return NullEchoCanceller(sample_rate_hz)
