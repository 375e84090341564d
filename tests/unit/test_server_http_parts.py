"""The server's pure parts: bind and token rules, subtitle timing, speed, per-request sampling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest
from starlette.requests import Request

from localvoice.backends.llm.sampling import Sampling
from localvoice.config import load_config, to_toml
from localvoice.errors import BadInputError
from localvoice.events import AudioClip, Message, TranscriptSegment
from localvoice.server.audio_formats import encode, speech_formats, srt, vtt
from localvoice.server.chat import tuned
from localvoice.server.errors import ApiError
from localvoice.server.security import check_bind, host_allowed, is_loopback, origin_allowed, token_matches
from localvoice.server.state import ServerState
from localvoice.server.stretch import time_stretch


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_names(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com", "127.0.0.1.example.com"])
def test_anything_else_needs_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(BadInputError, match="--token"):
        check_bind(host, None)
    check_bind(host, "s3cret")


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc") and not token_matches(None, "abc") and not token_matches("", "abc")
    assert token_matches("密码", "密码")  # non-ASCII tokens compare as UTF-8 bytes


def test_server_section_and_masked_token() -> None:
    config = load_config(overrides=["server.token=hunter2", "server.max_sessions=3"], environ={})
    assert (
        config.server.host == "127.0.0.1" and config.server.port == 8765 and config.server.max_upload_mb == 25
    )
    assert config.server.max_sessions == 3
    shown = to_toml(config)
    assert "hunter2" not in shown and 'token = "***"' in shown


def test_subtitles_from_segments() -> None:
    segments = [TranscriptSegment(0.0, 1.25, " 你好。"), TranscriptSegment(61.5, 3723.004, "Hello.")]
    assert srt(segments) == (
        "1\n00:00:00,000 --> 00:00:01,250\n你好。\n\n2\n00:01:01,500 --> 01:02:03,004\nHello.\n"
    )
    assert vtt(segments) == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\n你好。\n\n00:01:01.500 --> 01:02:03.004\nHello.\n"
    )


@pytest.mark.parametrize("speed", [0.5, 1.5, 3.0])
def test_speed_changes_length_not_pitch(speed: float) -> None:
    rate = 24_000
    t = np.arange(rate * 2) / rate
    tone = AudioClip((0.5 * np.sin(2 * np.pi * 220.0 * t) * 32767).astype(np.int16), rate)
    out = time_stretch(tone, speed)
    assert out.sample_rate_hz == rate
    assert out.duration_s == pytest.approx(2.0 / speed, rel=0.03)
    spectrum = np.abs(np.fft.rfft(out.samples.astype(np.float64)))
    assert np.argmax(spectrum) * rate / len(out.samples) == pytest.approx(220.0, abs=3.0)
    level = np.sqrt(np.mean(out.samples.astype(np.float64) ** 2)) / np.sqrt(
        np.mean(tone.samples.astype(np.float64) ** 2)
    )
    assert level == pytest.approx(1.0, abs=0.05)


def test_every_offered_speech_format_encodes() -> None:
    clip = AudioClip((np.sin(np.arange(24_000) / 10.0) * 8000).astype(np.int16), 24_000)
    assert {"wav", "pcm"} <= set(speech_formats())
    for name in speech_formats():
        assert len(encode(clip, name)) > 100, name
    assert encode(clip, "pcm") == clip.samples.tobytes()


class _RecordingLLM:
    """Records the sampling each call ran with, as a backend reads its own ``sampling``."""

    description = "test model"

    def __init__(self) -> None:
        self.sampling = Sampling(temperature=0.7, num_predict=256)
        self.seen: list[Sampling] = []

    async def stream_chat(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        self.seen.append(self.sampling)
        await asyncio.sleep(0)
        yield "ok"

    async def warm_up(self) -> None: ...

    async def aclose(self) -> None: ...


def test_per_request_sampling_leaves_the_shared_backend_alone() -> None:
    shared = _RecordingLLM()
    view, limit = tuned(shared, temperature=0.0, max_tokens=5, stop=["。"], seed=9)
    assert limit == 5 and view is not shared

    async def run() -> None:
        async for _ in view.stream_chat([Message("user", "hi")]):
            pass
        async for _ in shared.stream_chat([Message("user", "hi")]):
            pass

    asyncio.run(run())
    assert shared.seen[0] == Sampling(temperature=0.0, num_predict=5, stop=("。",), seed=9)
    assert shared.seen[1] == shared.sampling == Sampling(temperature=0.7, num_predict=256)
    same, default_limit = tuned(shared)
    assert same is shared and default_limit == 256


def test_api_error_keeps_status_and_code() -> None:
    error = ApiError(415, "not audio", "unsupported_media_type")
    assert (error.status, error.code, str(error)) == (415, "unsupported_media_type", "not audio")


def _request(**headers: str) -> Request:
    return Request({"type": "http", "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})


def test_origin_and_host_rules() -> None:
    config = load_config(overrides=['server.allowed_origins=["https://app.example"]'], environ={})
    open_state = ServerState.from_config(config, print)  # no token: loopback only
    assert origin_allowed(_request(host="127.0.0.1:8765"), open_state)  # not a browser
    assert origin_allowed(_request(host="127.0.0.1:8765", origin="http://127.0.0.1:8765"), open_state)
    assert origin_allowed(_request(host="127.0.0.1:8765", origin="https://app.example/"), open_state)
    assert not origin_allowed(_request(host="127.0.0.1:8765", origin="http://127.0.0.1:9999"), open_state)
    assert not origin_allowed(_request(host="127.0.0.1:8765", origin="https://evil.example"), open_state)
    assert host_allowed(_request(host="localhost:8765"), open_state)
    assert host_allowed(_request(host="[::1]:8765"), open_state)
    assert not host_allowed(_request(host="rebound.example:8765"), open_state)
    with_token = ServerState.from_config(config, print, token="t")
    assert host_allowed(_request(host="192.168.1.5:8765"), with_token)  # a LAN address, with a token
