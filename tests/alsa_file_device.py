"""A sound card made of files, for real PortAudio streams on machines with no audio hardware.

``alsa_file_device(root)`` writes ``root/home/.asoundrc`` whose default device is an ALSA ``asym``:
capture is a ``file`` plugin reading ``capture.raw`` (``infile``) over a ``null`` slave, playback a
separate ``file`` plugin writing ``playback.raw`` (each open truncates its output file, hence two). Raw
files hold samples in whatever format the stream opened (int16, channels interleaved, no header).

Two traps shape this module:
- PortAudio initialises ALSA once per process, when sounddevice is first imported, so the config must
  exist before that. ``run_scenario`` therefore runs device code in a fresh Python with ``HOME`` set,
  which also keeps other tests in the same pytest run unaffected.
- ALSA's ``null`` slave is not paced: capture returns as fast as the CPU allows and playback swallows
  millions of frames a second. These devices prove the I/O path and the data, never timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

_ASOUNDRC = """\
pcm.!default {{
    type asym
    capture.pcm "localvoice_capture"
    playback.pcm "localvoice_playback"
}}
pcm.localvoice_capture {{
    type file
    slave.pcm "null"
    file "{capture_echo}"
    infile "{capture}"
    format "raw"
}}
pcm.localvoice_playback {{
    type file
    slave.pcm "null"
    file "{playback}"
    format "raw"
}}
"""


@dataclass(frozen=True)
class AlsaFileDevice:
    capture_path: Path  # what the "microphone" hears: write raw samples here before capturing
    playback_path: Path  # what the "speaker" played: raw samples, read after the stream closes
    env: dict[str, str] = field(repr=False)  # environment that makes this the default device


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment with ``HOME`` moved, so ALSA reads ``home/.asoundrc`` only."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ALSA_", "PULSE_"))}
    env.pop("XDG_CONFIG_HOME", None)  # ALSA also reads $XDG_CONFIG_HOME/alsa/asoundrc
    env["HOME"] = str(home)
    return env


@contextmanager
def alsa_file_device(root: Path) -> Iterator[AlsaFileDevice]:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    device = AlsaFileDevice(root / "capture.raw", root / "playback.raw", clean_env(home))
    device.capture_path.write_bytes(b"")
    (home / ".asoundrc").write_text(
        _ASOUNDRC.format(
            capture=device.capture_path,
            capture_echo=root / "capture-echo.raw",  # the file plugin also records what it captured
            playback=device.playback_path,
        )
    )
    yield device


def run_scenario(env: dict[str, str], target: str, timeout_s: float = 60.0, **kwargs: Any) -> Any:
    """Run ``module:function(**kwargs)`` in a fresh Python with ``env`` and return its JSON result.

    The function may be async; it must return something ``json.dumps`` accepts.
    """
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tests.alsa_file_device import _main; _main()",
            target,
            json.dumps(kwargs),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"scenario {target} failed:\n{completed.stdout}\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _main() -> None:
    import asyncio
    import importlib
    import inspect

    module_name, function_name = sys.argv[1].split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**json.loads(sys.argv[2]))
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    print(json.dumps(result))
