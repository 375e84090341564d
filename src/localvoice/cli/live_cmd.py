"""``localvoice chat`` with the microphone: the live loop wired to real devices and the terminal UI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.events import OUTPUT_RATE_HZ, Notice, Pcm, ReplyFinished
from localvoice.session import Session
from localvoice.transcript_log import TranscriptLog

from .terminal_ui import TerminalUI, UiModel

# headset: full duplex with no echo canceller. With no echo path (headphones), a fresh WebRTC AEC3
# still ducks the user by ~16 dB while the first reply plays, enough to lose a "停一下".
MODES = ("full-duplex", "headset", "half-duplex", "push-to-talk")


async def run_live(args: argparse.Namespace, config: Config) -> int:
    from localvoice.audio.devices import SoundDeviceSink, SoundDeviceSource, resolve_device
    from localvoice.audio.echo import make_echo_canceller
    from localvoice.audio.echo_guard import SelfEchoGuard
    from localvoice.backends.vad.silero import SileroVAD
    from localvoice.errors import ConfigError

    mode = config.audio.mode
    if mode not in MODES:
        raise ConfigError(f"audio.mode must be one of {', '.join(MODES)}, got {mode!r}")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        from localvoice.audio.alsa_quiet import silence_alsa_messages

        silence_alsa_messages()
    ui = TerminalUI(UiModel(push_to_talk=mode == "push-to-talk"), interactive)

    def notify(message: str) -> None:
        ui(Notice(message))

    # Devices first: a missing microphone should be reported before minutes of model loading.
    input_device = resolve_device(config.audio.input, "input")
    output_device = resolve_device(config.audio.output, "output")
    echo = make_echo_canceller(enabled=mode == "full-duplex")
    if mode == "full-duplex" and not echo.active:
        notify("echo cancellation is unavailable (pip install 'localvoice[audio]'): using half-duplex")
        mode = "half-duplex"
    loop = asyncio.get_running_loop()

    def reference(block: Pcm, at_s: float) -> None:  # called on the audio thread
        loop.call_soon_threadsafe(echo.push_playback, block.copy(), at_s)

    source = SoundDeviceSource(input_device, config.audio.block_ms)
    sink = SoundDeviceSink(
        output_device,
        OUTPUT_RATE_HZ,
        block_ms=config.audio.block_ms,
        on_played=reference if echo.active else None,
    )
    await sink.start()
    async with Session(config, notify, need_asr=True) as session:
        assert session.asr is not None and session.llm is not None and session.tts is not None
        clock = MonotonicClock()
        conversation = session.conversation(
            sink, clock, observers=[ui], log=TranscriptLog.from_config(config)
        )
        live = session.live_loop(
            conversation,
            source,
            clock,
            ui,
            vad=SileroVAD.from_config(config.vad),
            echo=echo,
            guard=SelfEchoGuard(),
            mode=mode,
        )

        def on_key(key: str) -> None:
            if key in ("m", "M"):
                live.muted = not live.muted
                ui.model.muted = live.muted
            elif key == " " and mode == "push-to-talk":
                live.talk_enabled = not live.talk_enabled
                ui.model.talking = live.talk_enabled

        ui.on_key = on_key
        answered = 0

        def count_turns(event: object) -> None:
            nonlocal answered
            if isinstance(event, ReplyFinished):
                answered += 1
                if args.turns and answered >= args.turns:
                    ui.quit.set()

        conversation.subscribe(count_turns)
        notify(f"{session.llm.description}; {mode}; speak any time" + (", q to quit" if interactive else ""))
        listening = asyncio.create_task(live.run())
        drawing = asyncio.create_task(ui.run(lambda: live.level_dbfs))
        try:
            await asyncio.wait({listening, drawing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (listening, drawing):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(listening, drawing, return_exceptions=True)
            await conversation.interrupt()
            await sink.aclose()
            await source.aclose()
        if listening.done() and not listening.cancelled() and listening.exception() is not None:
            raise listening.exception()  # type: ignore[misc]
    return 0
