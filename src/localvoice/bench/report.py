"""Scenario results out: a rich table on the terminal, JSON, a Markdown summary and a PNG chart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from localvoice.bench.result import ScenarioResult

_COLUMNS = ("n", "median", "p90", "min", "max", "stdev")


def _number(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _target(result: ScenarioResult, metric: str) -> str:
    target = result.targets_ms.get(metric)
    if target is None:
        return ""
    met = result.metrics[metric].median <= target
    return f"≤ {_number(target)} ({'met' if met else 'missed'})"


def _headline_text(value: float | int | str | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def rich_table(result: ScenarioResult) -> Table:
    table = Table(title=result.title, title_justify="left")
    table.add_column("metric", no_wrap=True)
    for column in _COLUMNS:
        table.add_column(column, justify="right")
    table.add_column("target")
    for metric, summary in result.metrics.items():
        values = summary.as_dict()
        table.add_row(
            result.labels.get(metric, metric),
            *(str(values["n"]) if c == "n" else _number(float(values[c])) for c in _COLUMNS),
            _target(result, metric),
        )
    if result.headline:
        table.caption = "  ".join(f"{k} = {_headline_text(v)}" for k, v in result.headline.items())
    return table


def markdown(result: ScenarioResult, command: str = "") -> str:
    lines = [f"### {result.title}", ""]
    if command:
        lines += [f"`{command}`", ""]
    lines += [
        "| metric | " + " | ".join(_COLUMNS) + " | target |",
        "|---|" + "---:|" * len(_COLUMNS) + "---|",
    ]
    for metric, summary in result.metrics.items():
        values = summary.as_dict()
        cells = [str(values["n"]) if c == "n" else _number(float(values[c])) for c in _COLUMNS]
        lines.append(
            f"| {result.labels.get(metric, metric)} (`{metric}`) | "
            + " | ".join(cells)
            + f" | {_target(result, metric)} |"
        )
    if result.headline:
        lines.append("")
        lines += [f"- `{key}`: {_headline_text(value)}" for key, value in result.headline.items()]
    if result.notes:
        lines.append("")
        lines += [f"- note: {note}" for note in result.notes]
    machine = result.machine
    if machine:
        lines += [
            "",
            f"Machine: {machine.get('cpu_model')}, {machine.get('cpu_count')} cores; load average "
            f"(1/5/15 min) at start {machine.get('load_average_1_5_15')}, taken {machine.get('taken_at')}.",
        ]
    return "\n".join(lines) + "\n"


def write_chart(result: ScenarioResult, path: Path) -> Path | None:
    """Horizontal bars of each metric's median with a whisker to its p90; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display on a benchmark machine
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = list(result.metrics)
    if not names:
        return None
    medians = [result.metrics[n].median for n in names]
    above = [max(0.0, result.metrics[n].p90 - result.metrics[n].median) for n in names]
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    positions = list(range(len(names)))[::-1]
    # The naive baseline in orange beside localvoice's own numbers in blue.
    colors = ["#dd8452" if "naive" in name else "#4c72b0" for name in names]
    axes.barh(positions, medians, xerr=[[0.0] * len(names), above], color=colors, capsize=4)
    for position, name in zip(positions, names, strict=True):
        target = result.targets_ms.get(name)
        if target is not None:
            axes.plot([target, target], [position - 0.4, position + 0.4], color="#c44e52", linewidth=2)
    axes.set_yticks(positions, [result.labels.get(n, n) for n in names])
    if min(medians) > 0 and max(medians) / min(medians) > 100:
        axes.set_xscale("log")  # load times in seconds beside first-audio times in milliseconds
    axes.set_xlabel("ms (bar: median, whisker: p90, red: target)")
    axes.set_title(result.title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_outputs(result: ScenarioResult, out_dir: Path, command: str = "") -> list[Path]:
    """``<name>.json``, ``<name>.md`` and ``<name>.png`` in ``out_dir``; returns what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{result.name}.json"
    json_path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = out_dir / f"{result.name}.md"
    md_path.write_text(markdown(result, command), encoding="utf-8")
    written = [json_path, md_path]
    chart = write_chart(result, out_dir / f"{result.name}.png")
    if chart is not None:
        written.append(chart)
    return written


def combined(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """One object keyed by scenario name (what ``--json OUT`` writes)."""
    return {result.name: result.to_json() for result in results}


def write_combined(results: Sequence[ScenarioResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(combined(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
