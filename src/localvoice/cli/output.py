"""Printing conversation events for people (streaming text) and for scripts (JSON)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from localvoice.errors import BadInputError
from localvoice.events import ConversationEvent, ErrorOccurred, Notice, ReplyDelta, ReplyFinished


def check_output_file(path: Path) -> None:
    """Fail in one line before any work when ``path`` cannot be written (a missing or read-only folder)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise BadInputError(f"{path} is a folder; give a file name such as {path / 'answer.wav'}")
    if not folder.is_dir():
        raise BadInputError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise BadInputError(f"cannot write {path}: permission denied")


def notify_stderr(message: str) -> None:
    """A one-line notice for people (which backend was picked, a fallback), kept off stdout."""
    print(f"[{message}]", file=sys.stderr, flush=True)


class StreamPrinter:
    """Prints ``AI: …`` as the reply streams; notices and errors go to stderr."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, quiet: bool = False) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._quiet = quiet
        self._open_turn: int | None = None

    def __call__(self, event: ConversationEvent) -> None:
        if isinstance(event, Notice):
            print(f"[{event.message}]", file=self._err, flush=True)
        elif isinstance(event, ErrorOccurred):
            self._end_line()
            print(f"localvoice: {event.message}", file=self._err, flush=True)
        elif self._quiet:
            return
        elif isinstance(event, ReplyDelta):
            if self._open_turn != event.turn:
                self._out.write("AI: ")
                self._open_turn = event.turn
            self._out.write(event.text.replace("\n", " "))
            self._out.flush()
        elif isinstance(event, ReplyFinished):
            if event.interrupted:
                self._out.write(" [interrupted]")
            self._end_line()

    def _end_line(self) -> None:
        if self._open_turn is not None:
            self._out.write("\n")
            self._out.flush()
            self._open_turn = None
