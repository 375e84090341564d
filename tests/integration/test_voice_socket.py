"""The voice WebSocket against the real app (uvicorn, embedded Whisper, llama.cpp and voices) with the
``websockets`` client: hello, a spoken question answered with audio, interrupt, abuse, and a client
that leaves mid-reply without harming the next session."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from localvoice.audio.wav import read_audio
from localvoice.events import AudioClip
from localvoice.server.protocol import CLOSE_TOO_BIG, CLOSE_TRY_AGAIN, MAX_AUDIO_FRAME_BYTES, SUBPROTOCOL
from localvoice.server.voice_client import VoiceClient
from localvoice.transcript_log import read_log
from tests.server_fixtures import RunningServer, running_server, server_config

pytestmark = pytest.mark.slow
SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
TOKEN = "s3cret-token"
# A reply long enough to be cut: several clauses of speech.
LONG_ASK = "Tell me a story about a cat who learns to sail, in five sentences."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = server_config(tmp_path_factory.mktemp("voice-logs"))
    config.llm.model = "qwen2.5-coder-0.5b"  # the smaller packaged model: these tests are about the socket
    with running_server(config, token=TOKEN) as running:
        yield running


def _client(server: RunningServer, **kwargs: Any) -> VoiceClient:
    kwargs.setdefault("token", TOKEN)
    return VoiceClient(server.ws_url, **kwargs)


async def _next_event(socket: Any, kind: str, timeout_s: float = 120.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            frame = await socket.recv()
            if isinstance(frame, str) and (event := json.loads(frame))["type"] == kind:
                found: dict[str, Any] = event
                return found


async def _first_audio(socket: Any, timeout_s: float = 120.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not isinstance(await socket.recv(), bytes):
            pass


async def test_hello_says_the_version_and_both_audio_formats(server: RunningServer) -> None:
    async with _client(server) as client:
        hello = client.hello
    assert hello["type"] == "hello" and hello["protocol"] == 1
    assert hello["input"] == {"rate_hz": 16_000, "format": "s16le", "channels": 1}
    assert hello["output"] == {"rate_hz": 24_000, "format": "s16le", "channels": 1}
    assert hello["limits"]["audio_frame_bytes"] == MAX_AUDIO_FRAME_BYTES
    assert hello["session"]


async def test_a_spoken_question_is_answered_with_audio_and_logged(server: RunningServer) -> None:
    async with _client(server) as client:
        result = await client.ask(read_audio(SPEECH / "question_en.wav", 16_000))
        session = client.hello["session"]
    assert "capital" in result.transcript.lower() and "france" in result.transcript.lower()
    assert result.written and result.heard and not result.interrupted and result.error is None
    assert "paris" in result.written.lower()
    assert result.audio_bytes > 24_000  # over half a second of 24 kHz int16 reply audio
    assert result.first_audio_ms is not None and result.timings["voice_to_voice"] is not None
    kinds = [event["type"] for event in result.events]
    for expected in ("speech_started", "speech_ended", "transcript", "reply_delta", "reply_audio", "timings"):
        assert expected in kinds, kinds
    assert "transcript_partial" not in kinds  # only for clients that ask
    states = [event["state"] for event in result.events if event["type"] == "state"]
    assert states[:2] == ["thinking", "speaking"]  # reply_done comes before the return to listening
    records = [r for path in server.state.log_dir.glob("*.jsonl") for r in read_log(path)]
    mine = [r for r in records if r["session"] == session]
    assert len(mine) == 1 and "capital" in mine[0]["user"].lower() and mine[0]["assistant"] == result.heard


async def test_interrupt_stops_the_reply_and_history_keeps_what_was_heard(server: RunningServer) -> None:
    async with _client(server) as client:
        await client.send_json({"type": "text", "text": LONG_ASK})
        transcript = await _next_event(client.socket, "transcript")
        assert transcript["text"] == LONG_ASK
        await _first_audio(client.socket)
        await asyncio.sleep(0.6)  # a little of it plays (estimated: this client reports nothing)
        await client.send_json({"type": "interrupt"})
        clear = await _next_event(client.socket, "clear", timeout_s=5)
        done = await _next_event(client.socket, "reply_done", timeout_s=10)
    assert clear["id"] == 1 and clear["at"] > 0
    assert done["interrupted"] is True
    assert done["heard"] and len(done["heard"]) < len(done["written"])
    assert done["written"].startswith(done["heard"])


async def test_malformed_frames_get_an_error_event_and_the_session_goes_on(server: RunningServer) -> None:
    async with _client(server) as client:
        socket = client.socket
        await socket.send("this is not json")
        assert (await _next_event(socket, "error"))["code"] == "bad_message"
        await socket.send('{"type": "dance"}')
        assert "unknown message type" in (await _next_event(socket, "error"))["message"]
        await socket.send(b"\x01\x02\x03")  # half a sample
        assert (await _next_event(socket, "error"))["code"] == "bad_audio"
        await client.send_json({"type": "ping", "id": 7})
        assert (await _next_event(socket, "pong"))["id"] == 7


@pytest.mark.parametrize(
    "frame", [bytes(MAX_AUDIO_FRAME_BYTES + 2), json.dumps({"type": "text", "text": "x" * 20_000})]
)
async def test_an_oversized_frame_closes_with_1009(server: RunningServer, frame: bytes | str) -> None:
    async with _client(server) as client:
        await client.socket.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await _next_event(client.socket, "never", timeout_s=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_BIG


@pytest.mark.parametrize(
    ("headers", "origin"),
    [
        ({}, None),  # no token
        ({"Authorization": "Bearer wrong"}, None),
        ({"Authorization": f"Bearer {TOKEN}"}, "http://evil.example"),  # right token, foreign page
    ],
)
async def test_a_missing_or_wrong_token_or_a_foreign_origin_is_refused(
    server: RunningServer, headers: dict[str, str], origin: str | None
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(server.ws_url, additional_headers=headers, origin=origin)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


async def test_the_token_may_come_as_a_subprotocol_or_in_the_query_from_the_page_origin(
    server: RunningServer,
) -> None:
    page = f"http://127.0.0.1:{server.port}"
    async with connect(server.ws_url, subprotocols=[SUBPROTOCOL, f"token.{TOKEN}"], origin=page) as socket:  # type: ignore[list-item, arg-type]
        assert socket.subprotocol == SUBPROTOCOL
        assert json.loads(await socket.recv())["type"] == "hello"
    async with connect(f"{server.ws_url}?token={TOKEN}") as socket:
        assert json.loads(await socket.recv())["type"] == "hello"


async def test_when_every_slot_is_taken_the_socket_closes_with_1013(server: RunningServer) -> None:
    slots = server.state.voice_slots
    limit = slots.limit
    # An earlier test's socket can still be giving its slot back: wait until none is held, so the
    # ceiling set below is not lifted by a late release.
    deadline = time.monotonic() + 15
    while slots.in_use and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert slots.in_use == 0
    try:
        async with _client(server):  # its hello means it holds its slot
            slots.limit = slots.in_use
            async with connect(
                server.ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}
            ) as extra:
                with pytest.raises(ConnectionClosed) as closed:
                    await extra.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TRY_AGAIN
    finally:
        slots.limit = limit


async def test_a_client_gone_mid_reply_frees_its_slot_and_the_next_session_works(
    server: RunningServer,
) -> None:
    slots = server.state.voice_slots
    before = slots.in_use
    client = _client(server)
    await client.__aenter__()
    session = client.hello["session"]
    await client.send_json({"type": "text", "text": LONG_ASK})
    await _first_audio(client.socket)
    client.socket.transport.abort()  # no close handshake: the network just went away
    deadline = time.monotonic() + 15
    while slots.in_use > before and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert slots.in_use == before

    def logged() -> list[dict[str, Any]]:
        records = [r for path in server.state.log_dir.glob("*.jsonl") for r in read_log(path)]
        return [r for r in records if r["session"] == session]

    # The cut reply's record is written as the reply settles, which can be just after the slot is
    # given back.
    while not logged() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    cut = logged()
    assert len(cut) == 1 and cut[0]["interrupted"] is True  # the reply stopped when its listener left
    async with _client(server) as again:
        result = await again.ask(read_audio(SPEECH / "question_zh.wav", 16_000))
    assert "天气" in result.transcript and result.written and result.audio_bytes > 0


async def test_partial_transcripts_come_while_the_user_speaks_and_never_after_the_final(
    server: RunningServer,
) -> None:
    zh = read_audio(SPEECH / "question_zh.wav", 16_000)
    en = read_audio(SPEECH / "question_en.wav", 16_000)
    gap = np.zeros(3_200, dtype=np.int16)  # 0.2 s: speech for about four seconds
    long_question = AudioClip(np.concatenate([zh.samples, gap, en.samples]), 16_000)
    async with _client(server) as client:
        await client.send_json({"type": "config", "partials": True})
        result = await client.ask(long_question)
    kinds = [event["type"] for event in result.events]
    partials = [event["text"] for event in result.events if event["type"] == "transcript_partial"]
    assert partials, kinds
    assert kinds.index("transcript") > max(i for i, kind in enumerate(kinds) if kind == "transcript_partial")
    assert "天气" in partials[0] or "今天" in partials[0]  # the start of what was said, heard early
    assert "天气" in result.transcript


async def test_with_listening_off_speech_is_ignored_and_on_again_it_is_heard(server: RunningServer) -> None:
    """The talk button's server half: ``listen`` off mutes the microphone, on lets it count again."""
    question = read_audio(SPEECH / "question_en.wav", 16_000)
    silence = np.zeros(16_000, dtype=np.int16)
    muted_speech = np.concatenate([silence, question.samples, silence, silence])
    async with _client(server) as client:
        await client.send_json({"type": "listen", "on": False})
        for offset in range(
            0, len(muted_speech), 3_200
        ):  # 0.2 s frames, 5× real time: timers run on audio time
            await client.socket.send(muted_speech[offset : offset + 3_200].astype("<i2").tobytes())
            await asyncio.sleep(0.04)
        await asyncio.sleep(1.0)  # the live loop works through what it was sent
        await client.send_json({"type": "ping", "id": "muted"})
        heard: list[str] = []
        async with asyncio.timeout(30):
            while (event := json.loads(await client.socket.recv()))["type"] != "pong":
                heard.append(event["type"])
        assert "speech_started" not in heard and "transcript" not in heard, heard
        await client.send_json({"type": "listen", "on": True})
        result = await client.ask(question)
    assert "capital" in result.transcript.lower() and result.written
