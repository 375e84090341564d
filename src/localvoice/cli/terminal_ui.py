"""The live conversation on a terminal: state, input level, both sides' text, latency, and keys.

On a TTY it redraws a small rich panel and reads single keys (m: mute, space: push-to-talk,
q: quit); otherwise it prints plain lines that scripts and logs can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from localvoice.events import (
    ConversationEvent,
    ConversationState,
    ErrorOccurred,
    Notice,
    ReplyDelta,
    ReplyFinished,
    StateChanged,
    TranscriptReady,
    TurnTimings,
)

_METER_CELLS = 20
_STATE_STYLE = {
    ConversationState.LISTENING: ("● 在听 listening", "green"),
    ConversationState.THINKING: ("◐ 在想 thinking", "yellow"),
    ConversationState.SPEAKING: ("◉ 在说 speaking", "cyan"),
}


@dataclass
class UiModel:
    state: ConversationState = ConversationState.LISTENING
    lines: list[str] = field(default_factory=list)
    reply: str = ""
    latency: str = ""
    notice: str = ""
    muted: bool = False
    talking: bool = False
    push_to_talk: bool = False
    level_dbfs: float = -120.0

    def on_event(self, event: ConversationEvent) -> str | None:
        """Update the model; returns a plain line worth printing, if any."""
        if isinstance(event, StateChanged):
            self.state = event.state
        elif isinstance(event, TranscriptReady):
            return self._add(f"YOU: {event.text}")
        elif isinstance(event, ReplyDelta):
            self.reply += event.text
        elif isinstance(event, ReplyFinished):
            text = event.heard + (" [interrupted]" if event.interrupted else "")
            self.reply = ""
            return self._add(f"AI: {text}")
        elif isinstance(event, TurnTimings) and event.voice_to_voice_ms is not None:
            self.latency = f"voice-to-voice {event.voice_to_voice_ms:.0f} ms"
            return f"[{self.latency}]"
        elif isinstance(event, ErrorOccurred | Notice):
            self.notice = event.message
            return f"[{event.message}]"
        return None

    def _add(self, line: str) -> str:
        self.lines = [*self.lines[-8:], line]
        return line

    def render(self) -> Panel:
        label, style = _STATE_STYLE[self.state]
        meter_cells = max(0, min(_METER_CELLS, int((self.level_dbfs + 60) / 3)))  # -60..0 dBFS
        header = Text.assemble(
            (label, f"bold {style}"),
            "   mic ",
            ("muted" if self.muted else "█" * meter_cells + "·" * (_METER_CELLS - meter_cells), "magenta"),
            "   ",
            (self.latency, "dim"),
        )
        body = [Text(line) for line in self.lines]
        if self.reply:
            body.append(Text(f"AI: {self.reply}", style="cyan"))
        keys = "m mute · q quit" + (
            " · space talk" + (" (on)" if self.talking else "") if self.push_to_talk else ""
        )
        footer = Text(f"{self.notice}\n{keys}", style="dim")
        return Panel(Group(header, *body, footer), title="localvoice", border_style=style)


class TerminalUI:
    """Observer of conversation events; ``run()`` redraws and handles keys until quit."""

    def __init__(self, model: UiModel, interactive: bool) -> None:
        self.model = model
        self.interactive = interactive
        self.quit = asyncio.Event()
        self.on_key: Callable[[str], None] = lambda key: None

    def __call__(self, event: ConversationEvent) -> None:
        line = self.model.on_event(event)
        if line is not None and not self.interactive:
            print(line, flush=True)

    async def run(self, level: Callable[[], float]) -> None:
        if not self.interactive:
            await self.quit.wait()
            return
        loop = asyncio.get_running_loop()
        with _cbreak(), Live(self.model.render(), refresh_per_second=10, transient=False) as live:
            threading.Thread(target=self._read_keys, args=(loop,), daemon=True).start()
            while not self.quit.is_set():
                self.model.level_dbfs = level()
                live.update(self.model.render())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.quit.wait(), 0.1)

    def _read_keys(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self.quit.is_set():
            key = sys.stdin.read(1)
            if not key:
                loop.call_soon_threadsafe(self.quit.set)
                return
            loop.call_soon_threadsafe(self._key, key)

    def _key(self, key: str) -> None:
        if key in ("q", "Q", "\x03", "\x04"):
            self.quit.set()
        else:
            self.on_key(key)


@contextlib.contextmanager
def _cbreak() -> Iterator[None]:
    """Single keys without Enter, restored on exit (POSIX terminals)."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
