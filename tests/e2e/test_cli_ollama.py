"""``localvoice chat --text`` and ``localvoice turn`` against an Ollama-compatible server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from localvoice.transcript_log import read_log
from tests.e2e.cli_runner import SPEECH, run_cli
from tests.fake_ollama import FakeOllama, fake_ollama_fixture  # noqa: F401

WEATHER = "北京今天晴，气温二十度左右。出门记得带水。"


def _log(log_dir: Path) -> list[dict[str, Any]]:
    files = sorted(log_dir.glob("*.jsonl"))
    assert files, "no transcript log was written"
    return read_log(files[-1])


def test_chat_text_reads_one_message_per_line_and_keeps_history(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    result = run_cli(
        "--set",
        "llm.backend=ollama",
        "chat",
        "--text",
        "--mute",
        stdin="你好\n\nwhat time is it?\n",
        log_dir=tmp_path,
        env={"OLLAMA_HOST": fake_ollama.url},
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("AI: ")]
    assert lines == ["AI: 你说的是：你好。", "AI: You said: what time is it?."]
    chats = [b for b in fake_ollama.chat_bodies() if b.get("messages")]
    second = chats[1]["messages"]
    # persona, then each turn with the time line it was asked at: the first turn kept as it was sent
    assert [m["role"] for m in second] == ["system", "system", "user", "assistant", "system", "user"]
    assert second[3]["content"] == "你说的是：你好。"
    assert chats[0]["options"]["num_ctx"] == 4096 and chats[0]["stream"] is True
    assert [r["user"] for r in _log(tmp_path)] == ["你好", "what time is it?"]


def test_chat_text_survives_an_error_mid_reply(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    fake_ollama.error_after_chunks = 3
    result = run_cli(
        "--set",
        "llm.backend=ollama",
        "chat",
        "--text",
        "--mute",
        stdin="你好\n再说一遍\n",
        log_dir=tmp_path,
        env={"OLLAMA_HOST": fake_ollama.url},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("unexpected EOF") == 2 and "Traceback" not in result.stderr
    records = _log(tmp_path)
    assert len(records) == 2
    assert records[0]["assistant"] == "你说的是：你", "the three pieces written before the error are kept"
    assert records[0]["error"]


@pytest.mark.slow
def test_turn_json_with_ollama(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    fake_ollama.reply = lambda messages: [WEATHER[i : i + 3] for i in range(0, len(WEATHER), 3)]
    out = tmp_path / "answer.wav"
    result = run_cli(
        "--set",
        "llm.backend=ollama",
        "turn",
        str(SPEECH / "question_zh.wav"),
        "--out",
        str(out),
        "--json",
        log_dir=tmp_path,
        env={"OLLAMA_HOST": fake_ollama.url},
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {"transcript", "reply", "audio", "timings_ms"}
    assert "天气" in answer["transcript"]
    assert answer["reply"] == WEATHER
    assert answer["audio"] == str(out)
    timings = answer["timings_ms"]
    assert set(timings) == {"asr", "llm_first_token", "first_clause", "tts_first_audio", "voice_to_voice"}
    assert all(isinstance(v, float) and v > 0 for v in timings.values()), timings
    assert timings["voice_to_voice"] >= timings["asr"]
    audio, rate = soundfile.read(out, dtype="int16")
    assert rate == 24_000 and len(audio) / rate > 2.0
    assert np.abs(audio).max() > 1000
    assert _log(tmp_path)[0]["assistant"] == WEATHER


def test_chat_text_without_a_speaker_shows_the_replies_and_says_why(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    result = run_cli(
        "--set",
        "llm.backend=ollama",
        "chat",
        "--text",
        stdin="你好\n",
        log_dir=tmp_path,
        # An ALSA configuration whose only device is a sound card that does not exist: no speaker.
        env={"OLLAMA_HOST": fake_ollama.url, "ALSA_CONFIG_PATH": str(_no_sound_card(tmp_path))},
    )
    assert result.returncode == 0, result.stderr
    assert "Replies are shown, not spoken" in result.stderr
    assert "AI: 你说的是：你好。" in result.stdout


def _no_sound_card(root: Path) -> Path:
    config = root / "asound.conf"
    config.write_text("pcm.!default { type hw card 99 }\nctl.!default { type hw card 99 }\n")
    return config
