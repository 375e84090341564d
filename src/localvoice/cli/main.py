"""The ``localvoice`` command: parses options, loads config, runs a subcommand, turns errors into
one clear line and an exit code (2 for bad input)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import cast

from localvoice import __version__
from localvoice.cli.parser import Parser, add_config_options, config_sources, examples
from localvoice.config import load_config
from localvoice.errors import BadInputError, LocalVoiceError

# Shown under each command's --help (the nested actions of models and config carry their own).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "chat": (
        "localvoice chat",
        "localvoice chat --text --set llm.model=qwen2.5:7b",
        "echo 你好 | localvoice chat --text --mute",
    ),
    "turn": (
        "localvoice turn question.wav --out answer.wav --set asr.language=zh",
        "localvoice turn question.wav --out answer.wav --json",
    ),
    "say": ('localvoice say "你好，今天天气不错。" --out hello.wav',),
    "transcribe": ("localvoice transcribe speech.wav --language zh --json",),
}
# Commands that speak, so the Mandarin voice is offered first if it is missing.
SPEAKING_COMMANDS = frozenset({"chat", "turn", "say"})


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="localvoice",
        description="A fully local voice assistant: talk to your computer, it talks back.",
        epilog=examples(
            "localvoice chat",
            "localvoice chat --set llm.model=qwen2.5:7b",
            "localvoice turn question.wav --out answer.wav",
            "localvoice doctor",
        )
        + "\n\n--config and --set work before or after the command.",
    )
    parser.add_argument("--version", action="version", version=f"localvoice {__version__}")
    # Every subparser is a ``Parser`` too (argparse builds them with the parent's class).
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND", required=True),
    )

    from localvoice.cli import chat_cmd, config_cmd, doctor_cmd, turn_cmd

    chat_cmd.add_parser(commands)
    turn_cmd.add_parsers(commands)
    doctor_cmd.add_parser(commands)
    config_cmd.add_parser(commands)
    _add_optional_commands(commands)
    for name, lines in EXAMPLES.items():
        commands.choices[name].epilog = examples(*lines)
    add_config_options(parser)
    return parser


def _add_optional_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from localvoice.cli import (
        bench_cmd,
        devices_cmd,
        finetune_cmd,
        models_cmd,
        persona_cmd,
        serve_cmd,
        voice_cmd,
    )

    models_cmd.add_models_parser(commands)
    devices_cmd.add_devices_parser(commands)
    bench_cmd.add_bench_parser(commands)
    voice_cmd.add_voice_parser(commands)
    persona_cmd.add_persona_parser(commands)
    finetune_cmd.add_finetune_parser(commands)
    serve_cmd.add_serve_parser(commands)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(*config_sources(args))
        if args.command in SPEAKING_COMMANDS and not getattr(args, "mute", False):
            from localvoice.cli.voice_offer import is_interactive, offer_mandarin_voice

            offer_mandarin_voice(config.tts, interactive=is_interactive())
        result = args.func(args, config)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except LocalVoiceError as error:
        print(f"localvoice: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        if error.filename is None:  # not about a path the user gave: a bug, keep the traceback
            raise
        print(f"localvoice: cannot use {error.filename}: {error.strerror or error}", file=sys.stderr)
        return BadInputError.exit_code
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
