"""A whole live session with the real models: two spoken questions go into a (PulseAudio null-sink)
microphone in real time; ``localvoice chat`` hears, answers aloud, and logs two turns."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from localvoice.audio.wav import read_audio, write_wav
from localvoice.events import AudioClip
from localvoice.transcript_log import read_log
from tests.e2e.cli_runner import SPEECH
from tests.fake_ollama import unused_local_url
from tests.pulse_null_sinks import PulseServer, pulse_null_sinks

pytestmark = pytest.mark.slow


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[PulseServer]:
    with pulse_null_sinks(tmp_path / "pulse", rate_hz=16_000) as server:
        yield server


def _two_questions(path: Path, silence_s: float) -> None:
    first = read_audio(SPEECH / "question_zh.wav")
    second = read_audio(SPEECH / "question_en.wav")
    gap = np.zeros(round(silence_s * 16_000), dtype=np.int16)
    lead = np.zeros(8_000, dtype=np.int16)
    samples = np.concatenate([lead, first.samples, gap, second.samples, lead])
    write_wav(path, AudioClip(samples, 16_000))


def test_two_spoken_questions_give_two_answered_turns(tmp_path: Path, pulse: PulseServer) -> None:
    questions = tmp_path / "questions.wav"
    _two_questions(questions, silence_s=12.0)
    log_dir = tmp_path / "log"
    env = pulse.env | {
        # HOME points at the private ALSA config; models and the voice env stay where set-up put them.
        "XDG_CACHE_HOME": platformdirs.user_cache_dir(),
        "XDG_DATA_HOME": platformdirs.user_data_dir(),
        "LOCALVOICE_LOG_DIR": str(log_dir),
        "LOCALVOICE_LLM_NUM_PREDICT": "40",
        "OLLAMA_HOST": unused_local_url(),
        "PYTHONUNBUFFERED": "1",
    }
    chat = subprocess.Popen(
        [sys.executable, "-m", "localvoice.cli.main", "chat", "--turns", "2"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read_output() -> None:
        assert chat.stdout is not None
        for line in chat.stdout:
            output.append(line.rstrip())
            if "speak any time" in line:
                ready.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        assert ready.wait(180), "chat did not start:\n" + "\n".join(output)
        time.sleep(0.5)
        pulse.run("paplay", "-d", "mic", str(questions), timeout_s=60)
        chat.wait(timeout=120)
    finally:
        if chat.poll() is None:
            chat.kill()
            chat.wait()
        reader.join(timeout=5)
    transcript = "\n".join(output)
    print(transcript)
    assert chat.returncode == 0, transcript
    assert "Traceback" not in transcript
    records = read_log(next(log_dir.glob("*.jsonl")))
    assert len(records) == 2, transcript
    assert "天气" in records[0]["user"], transcript
    assert "capital" in records[1]["user"].lower(), transcript
    for record in records:
        assert record["assistant"], transcript
        assert record["timings_ms"]["voice_to_voice"] is not None
    assert sum("AI:" in line for line in output) == 2
