"""``localvoice devices``: the microphones and speakers PortAudio sees, and what ``doctor`` says about them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from localvoice.cli.parser import examples
from localvoice.config import Config
from localvoice.errors import LocalVoiceError

if TYPE_CHECKING:
    from localvoice.audio.devices import Kind


def add_devices_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "devices",
        help="list microphones and speakers (pick one with --set audio.input=… / audio.output=…)",
        description="List the audio devices PortAudio can open; * marks the system default. "
        "Set audio.input / audio.output to a device's number or part of its name.",
        epilog=examples("localvoice devices", "localvoice chat --set audio.input=2 --set audio.output=USB"),
    )
    parser.set_defaults(func=run_devices)


def run_devices(args: argparse.Namespace, config: Config) -> int:
    from localvoice.audio.devices import list_devices

    devices = list_devices()
    console = Console()
    sections: tuple[tuple[Kind, str], ...] = (("input", "Microphones"), ("output", "Speakers"))
    for kind, title in sections:
        table = Table(title=f"{title} (audio.{kind})", title_justify="left")
        table.add_column("", width=1)
        table.add_column("#", justify="right")
        table.add_column("name", overflow="fold")
        table.add_column("channels", justify="right")
        table.add_column("rate Hz", justify="right")
        for device in devices:
            if device.channels(kind) == 0:
                continue
            table.add_row(
                "*" if device.is_default(kind) else "",
                str(device.index),
                device.name,
                str(device.channels(kind)),
                str(device.default_rate_hz),
            )
        if table.row_count:
            console.print(table)
        else:
            console.print(f"{title}: none found")
    return 0


def describe_audio_problems() -> list[str]:
    """What stops live audio on this machine, each with what to do; empty when all is well."""
    from localvoice.audio.devices import list_devices

    try:
        devices = list_devices()
    except LocalVoiceError as error:  # sounddevice or the PortAudio library is missing
        return [str(error)]
    problems = []
    nouns: tuple[tuple[Kind, str], ...] = (("input", "microphone"), ("output", "speaker"))
    for kind, noun in nouns:
        if not any(device.channels(kind) > 0 for device in devices):
            problems.append(
                f"No {noun} ({kind} device) was found: connect one and check that the sound server "
                f"(PulseAudio/PipeWire) is running; `localvoice turn IN.wav --out OUT.wav` works without one."
            )
        elif not any(device.is_default(kind) for device in devices):
            problems.append(
                f"There is no default {noun}: pick one from `localvoice devices` with --set audio.{kind}=NUMBER."
            )
    return problems
