"""``localvoice bench [SCENARIO…]``: measure the stages of a voice turn (see BENCHMARKS.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from localvoice.cli.parser import examples
from localvoice.config import Config, load_config
from localvoice.errors import BadInputError, LocalVoiceError

SCENARIO_HELP = (
    "overhead (pipeline cost with instant fakes), barge_in (user speech → silence), idle (CPU while listening to a quiet room), stages (every stage "
    "of a real spoken turn), latency (what each latency measure buys, side by side), streaming_vs_naive (first audio vs the wait-then-speak loop), gpt_sovits (first audio of a "
    "cloned voice, streaming vs whole clip, against a fake server), models "
    "(load time and speed of each packaged model), turn_taking (scripted conversations with pauses, "
    "backchannels and interruptions), mandarin_cer (character error rate on human Mandarin), server "
    "(p50/p95 first audio over N concurrent WebSocket sessions of localvoice serve; --questions N "
    "sets N, default 8); none: all of them"
)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=SCENARIO_HELP)
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write all results as one JSON object")
    parser.add_argument(
        "--runs",
        type=int,
        help="repetitions of each input (default: 3 for barge_in and stages, 2 for latency and models, "
        "1 for streaming_vs_naive, which plays every reply twice in real time)",
    )
    parser.add_argument("--turns", type=int, default=200, help="turns measured by overhead (default 200)")
    parser.add_argument(
        "--questions",
        type=int,
        metavar="N",
        help="use only N of the bench questions, alternating languages (default: all 8)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("bench/results"),
        help="where each scenario's JSON, Markdown and PNG go (default bench/results)",
    )


def add_bench_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark every stage of a voice turn",
        description="Time every stage of a voice turn and compare the streaming pipeline with the "
        "naive wait-then-speak loop. Each scenario prints a table and writes JSON, Markdown and a PNG "
        "chart to --out-dir.",
        epilog=examples("localvoice bench overhead", "localvoice bench stages --runs 1 --json stages.json"),
    )
    _add_arguments(parser)
    parser.set_defaults(func=run_bench)


async def run_bench(args: argparse.Namespace, config: Config) -> int:
    from localvoice.bench.runner import BenchOptions, check_names, check_options, run_scenarios

    names = check_names(args.scenarios)  # bad names fail before any slow work
    options = BenchOptions(
        runs=args.runs, turns=args.turns, questions=args.questions, out_dir=args.out_dir, json_path=args.json
    )
    check_options(options)
    for folder in (args.out_dir, *([args.json.parent] if args.json else [])):
        _check_writable(folder)  # before minutes of measuring, not after
    await run_scenarios(names, config, options)
    return 0


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInputError(f"cannot write results to {folder}: {error.strerror or error}") from None
    if not os.access(folder, os.W_OK):
        raise BadInputError(f"cannot write results to {folder}: permission denied")


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (``python bench/run.py``), the same as ``localvoice bench``."""
    parser = argparse.ArgumentParser(
        prog="localvoice bench", description="Benchmark every stage of a voice turn."
    )
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        return asyncio.run(run_bench(args, config))
    except LocalVoiceError as error:
        print(f"localvoice: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
