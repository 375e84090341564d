"""``localvoice bench overhead`` end to end: a few turns, then the files and the JSON keys it promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localvoice.cli.bench_cmd import main


def test_overhead_scenario_writes_sane_json(tmp_path: Path) -> None:
    out = tmp_path / "all.json"
    code = main(["overhead", "--turns", "20", "--out-dir", str(tmp_path / "results"), "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    overhead = data["overhead"]
    assert overhead["turns"] == 20
    assert overhead["median_ms"] > 0 and overhead["p90_ms"] >= overhead["median_ms"]
    assert overhead["jitter_ms"] >= 0
    assert overhead["clauses_per_turn"] == 3 and overhead["audio_s_per_turn"] > 0  # the whole reply played
    turn = overhead["turn_ms"]
    assert turn["n"] == 20 and 0 < turn["min"] <= turn["median"] <= turn["p90"] <= turn["max"]
    assert overhead["machine"]["cpu_count"] >= 1
    assert (tmp_path / "results" / "overhead.md").is_file()
    assert (
        json.loads((tmp_path / "results" / "overhead.json").read_text())["median_ms"] == overhead["median_ms"]
    )


def test_unknown_scenario_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["overhed", "--out-dir", str(tmp_path)]) == 2
    assert "choose from: overhead, barge_in" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


async def test_bench_subcommand_as_the_main_cli_wires_it(tmp_path: Path) -> None:
    import argparse

    from localvoice.cli.bench_cmd import add_bench_parser
    from localvoice.config import Config

    parser = argparse.ArgumentParser(prog="localvoice")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", "overhead", "--turns", "5", "--out-dir", str(tmp_path)])
    assert await args.func(args, Config()) == 0
    assert json.loads((tmp_path / "overhead.json").read_text())["turn_ms"]["n"] == 5
