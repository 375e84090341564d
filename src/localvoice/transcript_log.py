"""An append-only JSONL record of every turn, flushed and synced per turn so a crash loses nothing."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import IO, Any

from localvoice.config import Config, data_dir
from localvoice.events import TurnRecord


class TranscriptLog:
    """One line per turn in ``<dir>/YYYY-MM-DD.jsonl``; each line names its session."""

    def __init__(self, directory: Path, session: str | None = None) -> None:
        self.directory = directory
        self.session = session or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self._file: IO[str] | None = None
        self._path: Path | None = None

    @classmethod
    def from_config(cls, config: Config) -> TranscriptLog:
        directory = Path(config.log.dir).expanduser() if config.log.dir else data_dir() / "transcripts"
        return cls(directory)

    @property
    def path(self) -> Path:
        return self.directory / (time.strftime("%Y-%m-%d") + ".jsonl")

    def append(self, record: TurnRecord, **extra: Any) -> None:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "session": self.session,
            "turn": record.turn,
            "user": record.user,
            "assistant": record.assistant,
            "interrupted": record.interrupted,
            "error": record.error,
            "timings_ms": record.timings_ms,
            **extra,
        }
        handle = self._open()
        handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> IO[str]:
        path = self.path
        if self._file is None or path != self._path:  # a new day starts a new file
            self.close()
            self.directory.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
            self._path = path
        return self._file


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every intact line of a log; a line torn by a crash mid-write is skipped."""
    records: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
