"""The ``localvoice`` command: parses options, loads config, runs a subcommand, turns errors into
one clear line and an exit code (2 for bad input)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from localvoice import __version__
from localvoice.config import load_config
from localvoice.errors import LocalVoiceError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localvoice",
        description="A fully local voice assistant: talk to your computer, it talks back.",
    )
    parser.add_argument("--version", action="version", version=f"localvoice {__version__}")
    parser.add_argument(
        "--config", type=Path, help="TOML config file (default ~/.config/localvoice/config.toml)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set llm.model=qwen2.5:7b (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from localvoice.cli import chat_cmd, config_cmd, doctor_cmd, turn_cmd

    chat_cmd.add_parser(commands)
    turn_cmd.add_parsers(commands)
    doctor_cmd.add_parser(commands)
    config_cmd.add_parser(commands)
    _add_optional_commands(commands)
    return parser


def _add_optional_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from localvoice.cli import bench_cmd, devices_cmd, models_cmd

    models_cmd.add_models_parser(commands)
    devices_cmd.add_devices_parser(commands)
    bench_cmd.add_bench_parser(commands)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        result = args.func(args, config)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except LocalVoiceError as error:
        print(f"localvoice: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
