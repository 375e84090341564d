"""A scripted client of the voice socket (docs/websocket.md), for the load test and ``bench server``.

It speaks a recorded question into ``/ws`` in real time, 20 ms a frame, then keeps sending silence
(the server's turn timers run on audio time, as a live microphone's would) until the reply is done,
and times the gap from the question's last frame sent to the first reply audio frame received.
Also here: ``serve_in_thread``, the real app on a real port in a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from localvoice.config import Config
from localvoice.events import INPUT_RATE_HZ, AudioClip

FRAME_MS = 20
FRAME_SAMPLES = INPUT_RATE_HZ * FRAME_MS // 1000


@dataclass
class TurnResult:
    """One question's answer, as the client saw it."""

    transcript: str = ""
    written: str = ""
    heard: str = ""
    interrupted: bool = False
    error: str | None = None
    first_audio_ms: float | None = None  # last question frame sent → first reply audio frame received
    audio_bytes: int = 0
    timings: dict[str, float | None] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


class VoiceClient:
    """``async with VoiceClient(url) as client: result = await client.ask(clip)``."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        origin: str | None = None,
        subprotocols: list[str] | None = None,
    ) -> None:
        self.url = url
        self._token = token
        self._origin = origin
        self._subprotocols = subprotocols
        self._socket: Any = None
        self.hello: dict[str, Any] = {}

    async def __aenter__(self) -> VoiceClient:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        self._socket = await connect(
            self.url,
            additional_headers=headers,
            origin=self._origin,  # type: ignore[arg-type]
            subprotocols=self._subprotocols,  # type: ignore[arg-type]
            max_size=2**22,
            open_timeout=30,
        )
        self.hello = json.loads(await self._socket.recv())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._socket.close()

    @property
    def socket(self) -> Any:
        """The underlying ``websockets`` connection, for tests that send their own frames."""
        return self._socket

    async def send_json(self, message: dict[str, Any]) -> None:
        await self._socket.send(json.dumps(message))

    async def ask(self, clip: AudioClip, *, lead_s: float = 0.3, timeout_s: float = 180.0) -> TurnResult:
        """Speak ``clip`` (16 kHz int16) and collect events until its reply is done."""
        result = TurnResult()
        sent_at: list[float] = []
        speaker = asyncio.create_task(self._speak(clip, lead_s, sent_at))
        try:
            await asyncio.wait_for(self._collect(result, sent_at), timeout_s)
        finally:
            speaker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await speaker
        return result

    async def _speak(self, clip: AudioClip, lead_s: float, sent_at: list[float]) -> None:
        lead = np.zeros(round(lead_s * INPUT_RATE_HZ), dtype=np.int16)
        question = np.concatenate([lead, clip.samples.astype(np.int16)])
        silence = np.zeros(FRAME_SAMPLES, dtype="<i2").tobytes()
        started = time.monotonic()
        frames = 0
        for offset in range(0, len(question), FRAME_SAMPLES):
            await self._socket.send(question[offset : offset + FRAME_SAMPLES].astype("<i2").tobytes())
            frames += 1
            await asyncio.sleep(max(0.0, started + frames * FRAME_MS / 1000 - time.monotonic()))
        sent_at.append(time.monotonic())
        while True:  # the microphone stays open: silence, in real time
            await self._socket.send(silence)
            frames += 1
            await asyncio.sleep(max(0.0, started + frames * FRAME_MS / 1000 - time.monotonic()))

    async def _collect(self, result: TurnResult, sent_at: list[float]) -> None:
        async for frame in self._socket:
            if isinstance(frame, bytes):
                result.audio_bytes += len(frame)
                if result.first_audio_ms is None and sent_at:
                    result.first_audio_ms = round((time.monotonic() - sent_at[0]) * 1000.0, 1)
                continue
            event = json.loads(frame)
            result.events.append(event)
            kind = event.get("type")
            if kind == "transcript":
                result.transcript = event["text"]
            elif kind == "timings":
                result.timings = event["ms"]
            elif kind == "reply_done" and not event.get("withdrawn"):
                result.written, result.heard = event["written"], event["heard"]
                result.interrupted, result.error = event["interrupted"], event["error"]
                return
        raise ConnectionError(f"the server closed the socket ({self._socket.close_code}) before the reply")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_in_thread(config: Config, token: str | None = None, timeout_s: float = 300.0) -> Iterator[str]:
    """The real app under uvicorn on 127.0.0.1 in a background thread; yields ``http://host:port``.

    Returns once the models are loaded (the app's lifespan has finished starting).
    """
    import uvicorn

    from localvoice.server.app import create_app
    from localvoice.server.state import ServerState

    state = ServerState.from_config(config, lambda message: None, token=token)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="localvoice-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the server did not start (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
