"""``voice check``: speaker similarity of the cloned voice's speech to its reference (Resemblyzer)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from localvoice.audio.wav import read_audio
from tests.e2e.cli_runner import run_cli
from tests.fake_gpt_sovits import FakeGptSovits

SPEECH = Path(__file__).parents[1] / "fixtures" / "speech"
TEXT = "怎样才能更专心地学习？周末在家可以做些什么？"
HAS_RESEMBLYZER = importlib.util.find_spec("resemblyzer") is not None


def add_voice(tmp_path: Path) -> dict[str, str]:
    a, rate = sf.read(SPEECH / "bench" / "zh_study.wav", dtype="int16")
    b, _ = sf.read(SPEECH / "bench" / "zh_weekend.wav", dtype="int16")
    sf.write(tmp_path / "me.wav", np.concatenate([a, np.zeros(rate // 4, np.int16), b]), rate)
    env = {"LOCALVOICE_TTS_GPT_SOVITS_VOICES_DIR": str(tmp_path / "voices")}
    added = run_cli(
        "voice", "add", "me", "--ref", str(tmp_path / "me.wav"), "--text", TEXT, log_dir=tmp_path, env=env
    )
    assert added.returncode == 0, added.stderr
    return env


def test_without_the_extra_it_says_what_to_install_in_one_line(tmp_path: Path) -> None:
    env = add_voice(tmp_path)
    # A stand-in package that fails the way Resemblyzer does without torch, whatever is installed here.
    (tmp_path / "shadow" / "resemblyzer").mkdir(parents=True)
    (tmp_path / "shadow" / "resemblyzer" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'torch'\", name='torch')\n", encoding="utf-8"
    )
    result = run_cli(
        "voice", "check", "me", log_dir=tmp_path, env={**env, "PYTHONPATH": str(tmp_path / "shadow")}
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "localvoice: voice check needs torch; install it with: pip install 'localvoice[voicecheck]' "
        "(Resemblyzer and the CPU build of torch)"
    )


@pytest.mark.slow
@pytest.mark.skipif(not HAS_RESEMBLYZER, reason="needs pip install 'localvoice[voicecheck]'")
@pytest.mark.parametrize(
    ("speaks", "reading"),
    [
        ("bench/zh_dinner.wav", "sounds like the same speaker"),  # the reference's own (packaged) voice
        ("question_en.wav", "does not sound like the reference speaker"),  # Piper's English voice
    ],
)
def test_the_score_tells_the_same_speaker_from_another(tmp_path: Path, speaks: str, reading: str) -> None:
    env = add_voice(tmp_path)
    with FakeGptSovits(sample_rate_hz=16_000) as server:
        server.voice_audio = read_audio(SPEECH / speaks, 16_000).samples
        result = run_cli(
            "voice", "check", "me", "--save", str(tmp_path / "said.wav"), log_dir=tmp_path,
            env={**env, "LOCALVOICE_TTS_GPT_SOVITS_URL": server.url},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"me: similarity (0\.\d\d) — (.+)\n", result.stdout)
    assert match, result.stdout
    assert reading in match[2], result.stdout
    assert (tmp_path / "said.wav").is_file()
