"""``localvoice chat``: talk to the assistant, by typing (``--text``) or with the microphone."""

from __future__ import annotations

import argparse
import asyncio
import sys

import numpy as np

from localvoice.backends.tts.whole_clip import WholeClipTTS
from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.errors import AudioDeviceError, MissingExtraError
from localvoice.events import OUTPUT_RATE_HZ, AudioClip
from localvoice.protocols import AudioSink
from localvoice.session import Session
from localvoice.transcript_log import TranscriptLog

from .output import StreamPrinter, notify_stderr


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = commands.add_parser(
        "chat",
        help="talk with the assistant (microphone, or typed with --text)",
        description="A conversation. With --text you type and it answers aloud (or silently with "
        "--mute); when standard input is not a terminal it reads one message per line until the end "
        "of input, so it can be scripted. Without --text it listens to the microphone.",
    )
    chat.add_argument("--text", action="store_true", help="type messages instead of speaking")
    chat.add_argument("--mute", action="store_true", help="print the reply without playing it")
    chat.add_argument("--input", default=None, help="microphone: device index or name")
    chat.add_argument("--output", default=None, help="speaker: device index or name")
    chat.add_argument(
        "--turns", type=int, default=0, metavar="N", help="stop after N answered turns (0: never)"
    )
    chat.set_defaults(func=run_chat)


async def run_chat(args: argparse.Namespace, config: Config) -> int:
    if args.input is not None:
        config.audio.input = args.input
    if args.output is not None:
        config.audio.output = args.output
    if not args.text:
        from localvoice.cli.live_cmd import run_live

        return await run_live(args, config)
    return await _text_chat(args, config)


async def _text_chat(args: argparse.Namespace, config: Config) -> int:
    printer = StreamPrinter()
    sink, silent = await _open_sink(config, args.mute)
    try:
        async with Session(config, notify_stderr, need_tts=not silent) as s:
            conversation = s.conversation(
                sink,
                MonotonicClock(),
                observers=[printer],
                log=TranscriptLog.from_config(config),
                tts=None if s.tts is not None else _SilentTTS(),
            )
            interactive = sys.stdin.isatty()
            if interactive and s.llm is not None:
                notify_stderr(f"{s.llm.description}; type a message, Ctrl-D to quit")
            while True:
                line = await _read_line("YOU: " if interactive else "")
                if line is None:
                    break
                text = line.strip()
                if not text:
                    continue
                # A failed reply is shown by the printer in one line; the session goes on.
                await conversation.reply_to(text)
    finally:
        await sink.aclose()
    return 0


async def _read_line(prompt: str) -> str | None:
    def read() -> str | None:
        if prompt:
            print(prompt, end="", flush=True)
        line = sys.stdin.readline()
        return line if line else None

    return await asyncio.to_thread(read)


async def _open_sink(config: Config, mute: bool) -> tuple[AudioSink, bool]:
    """The speaker, or a silent sink when muted or when there is no speaker (said once)."""
    from localvoice.audio.sinks import CollectingSink

    if mute:
        return CollectingSink(OUTPUT_RATE_HZ, keep=False), True
    from localvoice.audio.devices import SoundDeviceSink, resolve_device

    try:
        # Opened now, as live chat does: a speaker that refuses is found before the first reply.
        speaker = SoundDeviceSink(resolve_device(config.audio.output, "output"), OUTPUT_RATE_HZ)
        await speaker.start()
        return speaker, False
    except (AudioDeviceError, MissingExtraError) as error:
        if config.audio.output:  # a speaker the user asked for by name: that is their mistake to fix
            raise
        notify_stderr(f"{error} Replies are shown, not spoken.")
        return CollectingSink(OUTPUT_RATE_HZ, keep=False), True


class _SilentTTS(WholeClipTTS):
    """Used with --mute: nothing is synthesized, so the reply is shown as fast as it is written."""

    async def synthesize(self, text: str) -> AudioClip:
        return AudioClip(np.zeros(0, dtype=np.int16), OUTPUT_RATE_HZ)
