"""``bench turn_taking`` in-process on three of its scenarios, with the embedded models in real time:
a plain question (the control), a question with a pause from idle, and a "嗯" over a long reply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localvoice.bench.report import write_outputs
from localvoice.bench.turn_taking import run_turn_taking
from localvoice.config import Config

pytestmark = pytest.mark.slow

NAMES = ["zh_plain", "zh_pause_question_0.6s", "zh_backchannel"]


async def test_three_scenarios_are_run_judged_and_written(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_turn_taking(Config(), 1, NAMES, tmp_path / "logs", lines.append)
    rows = {row["scenario"]: row for row in result.details}
    report = "\n".join(lines) + "\n" + json.dumps(result.details, ensure_ascii=False, indent=1)
    print(report)
    assert list(rows) == NAMES and len([line for line in lines if ": again" not in line]) == 3
    for name in NAMES:  # every scenario leaves its transcript log and a timeline to read
        assert list((tmp_path / "logs" / f"1-{name}").rglob("*.jsonl")), report
        assert rows[name]["timeline"][0].split()[1:3] == ["user", "says"], report
    # The control works on today's code: if it fails, suspect the harness (or a very busy machine).
    assert rows["zh_plain"]["ok"], report
    assert rows["zh_pause_question_0.6s"]["ok"], report  # one turn, both halves, answered once
    assert rows["zh_backchannel"]["ok"], report  # "嗯" neither cut the story nor made a turn
    assert result.headline["premature_cutoff_rate"] == 0.0 and result.headline["lost_speech_rate"] == 0.0
    assert result.headline["false_barge_in_rate"] == 0.0
    written = write_outputs(result, tmp_path / "results", "localvoice bench turn_taking")
    data = json.loads(written[0].read_text(encoding="utf-8"))
    assert data["passed"] == "3/3" and data["voice_to_voice_ms"]["n"] >= 2
