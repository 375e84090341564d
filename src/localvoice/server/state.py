"""What every request and socket of one ``localvoice serve`` shares: config, models, token, limits.

The models load once, at start-up (``start()``), into one ``Session`` that all connections share;
each voice connection gets its own ``Conversation`` from it (``session.conversation(...)``) and a slot
out of ``server.max_sessions``. HTTP model requests (transcribe, speak, chat) take slots from a
second pool of the same size, so a burst of them answers 429 instead of queueing without end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from localvoice.config import Config, data_dir
from localvoice.protocols import ASR, LLM, TTS
from localvoice.server.errors import busy, not_loaded
from localvoice.session import Session
from localvoice.transcript_log import TranscriptLog

Notify = Callable[[str], None]


class SlotPool:
    """A counter with a ceiling; taking and giving back happen on the event loop, so no lock is needed."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.in_use = 0

    def try_acquire(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use = max(0, self.in_use - 1)


@dataclass
class ServerState:
    """Build with ``ServerState.from_config``; the app's lifespan calls ``start()`` and ``stop()``."""

    config: Config
    notify: Notify
    token: str | None = None  # None: no token needed (loopback only)
    need_asr: bool = True
    need_llm: bool = True
    need_tts: bool = True
    session: Session | None = None
    started_at: float = field(default_factory=time.time)
    voice_slots: SlotPool = field(init=False)
    request_slots: SlotPool = field(init=False)

    def __post_init__(self) -> None:
        self.voice_slots = SlotPool(self.config.server.max_sessions)
        self.request_slots = SlotPool(self.config.server.max_sessions)

    @classmethod
    def from_config(cls, config: Config, notify: Notify, token: str | None = None) -> ServerState:
        """``token`` (from --token) wins over ``server.token``; an empty one means none."""
        return cls(config, notify, token=token or config.server.token or None)

    # ---- life cycle ----

    async def start(self) -> None:
        """Load and warm every model once; the shared session is what each connection uses."""
        session = Session(
            self.config,
            self.notify,
            need_asr=self.need_asr,
            need_llm=self.need_llm,
            need_tts=self.need_tts,
        )
        self.session = await session.__aenter__()
        self.started_at = time.time()

    async def stop(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.aclose()

    # ---- the models, or 503 when this server did not load one ----

    @property
    def asr(self) -> ASR:
        if self.session is None or self.session.asr is None:
            raise not_loaded("speech recognition")
        return self.session.asr

    @property
    def llm(self) -> LLM:
        if self.session is None or self.session.llm is None:
            raise not_loaded("language")
        return self.session.llm

    @property
    def tts(self) -> TTS:
        if self.session is None or self.session.tts is None:
            raise not_loaded("speech")
        return self.session.tts

    # ---- limits ----

    @property
    def max_upload_bytes(self) -> int:
        return self.config.server.max_upload_mb * 1024 * 1024

    @property
    def allowed_origins(self) -> list[str]:
        return self.config.server.allowed_origins

    def try_acquire_session(self) -> bool:
        """Take a voice-session slot; False when ``server.max_sessions`` are already talking."""
        return self.voice_slots.try_acquire()

    def release_session(self) -> None:
        self.voice_slots.release()

    def take_request_slot(self) -> None:
        """One HTTP model request starts (give it back with ``request_slots.release()``); 429 when full."""
        if not self.request_slots.try_acquire():
            raise busy(
                f"the server is already answering {self.request_slots.limit} model requests; retry shortly"
            )

    @contextlib.contextmanager
    def request_slot(self) -> Iterator[None]:
        """``take_request_slot()`` for the length of a block."""
        self.take_request_slot()
        try:
            yield
        finally:
            self.request_slots.release()

    # ---- transcript logs ----

    @property
    def log_dir(self) -> Path:
        return Path(self.config.log.dir).expanduser() if self.config.log.dir else data_dir() / "transcripts"

    def new_transcript_log(self) -> TranscriptLog:
        """A log for one voice session: the day's file, each line naming this session (as the CLI's)."""
        return TranscriptLog(self.log_dir)
