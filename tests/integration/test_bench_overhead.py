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
