"""Run the chosen scenarios in order, print each one's table and write its files as soon as it ends."""

from __future__ import annotations

import copy
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from localvoice.bench.machine import load_average, machine_info
from localvoice.bench.report import rich_table, write_combined, write_outputs
from localvoice.bench.result import ScenarioResult
from localvoice.config import Config
from localvoice.errors import BadInputError


@dataclass(frozen=True, slots=True)
class BenchOptions:
    runs: int | None = None  # None: each scenario's own default (DEFAULT_RUNS)
    turns: int = 200  # overhead only
    questions: int | None = None  # use only this many bench questions (both languages); None: all
    out_dir: Path = Path("bench/results")
    json_path: Path | None = None


Scenario = Callable[[Config, BenchOptions], Awaitable[ScenarioResult]]

# Real-time scenarios are slow: streaming_vs_naive plays every reply twice at speaking pace.
DEFAULT_RUNS = {
    "overhead": 1,
    "barge_in": 3,
    "idle": 2,
    "stages": 3,
    "latency": 2,
    "streaming_vs_naive": 1,
    "gpt_sovits": 3,
    "models": 2,
    "turn_taking": 1,
    "mandarin_cer": 1,
    "server": 1,
}


def runs_for(name: str, options: BenchOptions) -> int:
    return options.runs if options.runs is not None else DEFAULT_RUNS[name]


async def _overhead(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.overhead import run_overhead

    return await run_overhead(options.turns)


async def _barge_in(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.barge_in import run_barge_in

    return await run_barge_in(config, runs_for("barge_in", options))


async def _idle(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.idle import run_idle

    return await run_idle(config, runs_for("idle", options))


async def _stages(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.stages import run_stages

    return await run_stages(config, runs_for("stages", options), options.questions)


async def _latency(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.latency import run_latency

    return await run_latency(config, runs_for("latency", options), options.questions)


async def _streaming_vs_naive(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.streaming_vs_naive import run_streaming_vs_naive

    return await run_streaming_vs_naive(config, runs_for("streaming_vs_naive", options), options.questions)


async def _gpt_sovits(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.gpt_sovits_stream import run_gpt_sovits_stream

    return await run_gpt_sovits_stream(config, runs_for("gpt_sovits", options))


async def _models(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.model_speed import run_models

    return await run_models(config, runs_for("models", options), options.questions)


async def _turn_taking(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.turn_taking import run_turn_taking

    return await run_turn_taking(
        config,
        runs_for("turn_taking", options),
        log_root=options.out_dir / "turn_taking_logs",
        progress=lambda line: print(line, flush=True),
    )


async def _mandarin_cer(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.mandarin_cer import run_mandarin_cer

    return await run_mandarin_cer(config, runs_for("mandarin_cer", options))


async def _server(config: Config, options: BenchOptions) -> ScenarioResult:
    from localvoice.bench.server_bench import run_server_bench

    return await run_server_bench(config, runs_for("server", options), options.questions)


# In the order they run: the quick fake-based ones first, then those that load real models.
SCENARIOS: dict[str, Scenario] = {
    "overhead": _overhead,
    "barge_in": _barge_in,
    "idle": _idle,
    "stages": _stages,
    "latency": _latency,
    "streaming_vs_naive": _streaming_vs_naive,
    "gpt_sovits": _gpt_sovits,
    "models": _models,
    "turn_taking": _turn_taking,
    "mandarin_cer": _mandarin_cer,
    "server": _server,
}


def check_names(names: Sequence[str]) -> list[str]:
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise BadInputError(
            f"unknown benchmark scenario {', '.join(unknown)}; choose from: {', '.join(SCENARIOS)}"
        )
    chosen = set(names) or set(SCENARIOS)
    return [name for name in SCENARIOS if name in chosen]


def check_options(options: BenchOptions) -> None:
    for flag, value in (
        ("--runs", options.runs),
        ("--turns", options.turns),
        ("--questions", options.questions),
    ):
        if value is not None and value < 1:
            raise BadInputError(f"{flag} must be at least 1, got {value}")


_TAKE_QUESTIONS = ("stages", "latency", "streaming_vs_naive", "models", "server")


def command_line(name: str, options: BenchOptions) -> str:
    extra = f" --turns {options.turns}" if name == "overhead" else f" --runs {runs_for(name, options)}"
    if options.questions is not None and name in _TAKE_QUESTIONS:
        extra += f" --questions {options.questions}"
    return f"localvoice bench {name}{extra}"


async def run_scenarios(
    names: Sequence[str], config: Config, options: BenchOptions, console: Console | None = None
) -> list[ScenarioResult]:
    check_options(options)
    # Wide enough for the tables when the output goes to a file or a pipe.
    console = console or Console(width=None if sys.stdout.isatty() else 120)
    results: list[ScenarioResult] = []
    for name in check_names(names):
        console.print(f"[bold]bench {name}[/bold] …")
        machine = machine_info()  # load average before the scenario: how contended its numbers are
        result = await SCENARIOS[name](copy.deepcopy(config), options)
        machine["load_average_after"] = load_average()
        result.machine = machine
        results.append(result)
        console.print(rich_table(result))
        written = write_outputs(result, options.out_dir, command_line(name, options))
        console.print("wrote " + ", ".join(str(path) for path in written))
        if options.json_path is not None:  # rewritten after each scenario: a late failure loses nothing
            write_combined(results, options.json_path)
    return results
