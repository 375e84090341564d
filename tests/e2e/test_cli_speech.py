"""``say``, ``transcribe``, ``doctor`` and a ``turn`` on the embedded defaults, as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.cli_runner import SPEECH, run_cli
from tests.fake_ollama import unused_local_url

pytestmark = pytest.mark.slow
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_say_then_transcribe_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "said.wav"
    said = run_cli("say", "你好，我是小声。今天气温二十五度。", "--out", str(out), log_dir=tmp_path)
    assert said.returncode == 0, said.stderr
    heard = run_cli("transcribe", str(out), "--json", log_dir=tmp_path)
    assert heard.returncode == 0, heard.stderr
    result = json.loads(heard.stdout)
    assert result["language"] == "zh" and "你好" in result["text"]
    assert result["duration_s"] > 1.5 and result["segments"]


def test_turn_on_embedded_defaults_answers_a_chinese_question_in_chinese(tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    result = run_cli(
        "turn",
        str(SPEECH / "question_zh.wav"),
        "--out",
        str(out),
        "--json",
        log_dir=tmp_path,
        env={"OLLAMA_HOST": unused_local_url(), "LOCALVOICE_LLM_NUM_PREDICT": "60"},
    )
    assert result.returncode == 0, result.stderr
    assert "embedded llama.cpp" in result.stderr  # auto picked the embedded model and said so
    answer = json.loads(result.stdout)
    assert CJK.search(answer["transcript"]) and CJK.search(answer["reply"])
    heard = json.loads(run_cli("transcribe", str(out), "--json", log_dir=tmp_path).stdout)
    # The answer may be as short as "查不到。" (the persona has no live data): Chinese heard back.
    assert heard["language"] == "zh" and len(CJK.findall(heard["text"])) >= 2


def test_doctor_says_what_to_fix(tmp_path: Path) -> None:
    result = run_cli("doctor", log_dir=tmp_path, env={"OLLAMA_HOST": unused_local_url()})
    assert "Traceback" not in result.stderr
    assert "ollama serve" in result.stdout  # Ollama is down here: it says how to start it
    assert re.search(r"^ok +embedded llm", result.stdout, re.M)
    assert re.search(r"^ok +model whisper-base", result.stdout, re.M)
    assert "gpt-sovits" in result.stdout
    assert result.returncode == 0  # the embedded model makes the assistant usable
