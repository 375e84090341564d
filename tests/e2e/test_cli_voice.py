"""``localvoice voice add | list | use | remove | show`` and ``doctor`` on a cloned voice, as a user runs them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.e2e.cli_runner import run_cli
from tests.fake_gpt_sovits import FakeGptSovits
from tests.fake_ollama import unused_local_url

SPEECH = Path(__file__).parents[1] / "fixtures" / "speech" / "bench"
RATE = 16_000
TEXT = "怎样才能更专心地学习？周末在家可以做些什么？"


def clip(path: Path, names: list[str], pause_s: float = 0.25) -> Path:
    parts: list[np.ndarray] = []
    for name in names:
        audio, _ = sf.read(SPEECH / f"{name}.wav", dtype="int16")
        parts += [audio, np.zeros(round(pause_s * RATE), np.int16)]
    sf.write(path, np.concatenate(parts[:-1]), RATE)
    return path


def env(tmp_path: Path, **more: str) -> dict[str, str]:
    return {"LOCALVOICE_TTS_GPT_SOVITS_VOICES_DIR": str(tmp_path / "voices"), **more}


def test_add_list_use_show_remove(tmp_path: Path) -> None:
    ref = clip(tmp_path / "me.wav", ["zh_study", "zh_weekend"])
    added = run_cli(
        "voice", "add", "me", "--ref", str(ref), "--text", TEXT, log_dir=tmp_path, env=env(tmp_path)
    )
    assert added.returncode == 0, added.stderr
    stored = tmp_path / "voices" / "me" / "reference.wav"
    assert stored.is_file() and not stored.is_symlink() and stored.read_bytes() == ref.read_bytes()
    ref.unlink()  # a copy: the original may go
    other = clip(tmp_path / "you.wav", ["zh_dinner", "zh_sleep"])
    aux = clip(tmp_path / "aux.wav", ["zh_sleep", "zh_dinner"])
    run_cli(
        "voice", "add", "you", "--ref", str(other), "--text", "今天晚饭做点什么好呢？", "--aux", str(aux),
        log_dir=tmp_path, env=env(tmp_path),
    )  # fmt: skip
    assert (tmp_path / "voices" / "you" / "aux_1.wav").read_bytes() == aux.read_bytes()
    listed = run_cli("voice", "list", log_dir=tmp_path, env=env(tmp_path)).stdout
    assert re.search(r"^\* me \(zh, zero-shot\)", listed, re.M) and re.search(r"^  you ", listed, re.M)
    run_cli("voice", "use", "you", log_dir=tmp_path, env=env(tmp_path))
    shown = run_cli("voice", "show", "you", log_dir=tmp_path, env=env(tmp_path)).stdout
    assert "(in use)" in shown and "今天晚饭做点什么好呢？" in shown
    assert f"aux clip:   {tmp_path / 'voices' / 'you' / 'aux_1.wav'}" in shown
    assert run_cli("voice", "remove", "me", log_dir=tmp_path, env=env(tmp_path)).returncode == 0
    assert not (tmp_path / "voices" / "me").exists()
    gone = run_cli("voice", "show", "me", log_dir=tmp_path, env=env(tmp_path))
    assert gone.returncode == 2 and "no voice named 'me'" in gone.stderr and "Traceback" not in gone.stderr


def test_a_reference_outside_3_to_10_s_is_refused_with_the_reason(tmp_path: Path) -> None:
    short = clip(tmp_path / "short.wav", ["zh_study"])  # 2.4 s
    result = run_cli(
        "voice", "add", "me", "--ref", str(short), "--text", "x", log_dir=tmp_path, env=env(tmp_path)
    )
    assert result.returncode == 2 and "2.4 s long; GPT-SoVITS needs a reference of 3–10 s" in result.stderr
    assert not (tmp_path / "voices" / "me").exists()


def test_a_long_clip_gets_its_best_window_offered_then_used(tmp_path: Path) -> None:
    long = clip(tmp_path / "long.wav", ["zh_study", "zh_weekend", "zh_sleep", "zh_dinner"] * 2, pause_s=0.8)
    offered = run_cli(
        "voice", "add", "me", "--ref", str(long), "--text", "x", log_dir=tmp_path, env=env(tmp_path)
    )
    assert offered.returncode == 2
    match = re.search(r"pass --window (\d+\.\d)-(\d+\.\d)", offered.stderr)
    assert match, offered.stderr
    start, end = float(match[1]), float(match[2])
    assert 3.0 <= end - start <= 10.0
    used = run_cli(
        "voice", "add", "me", "--ref", str(long), "--text", "x", "--window", f"{start}-{end}",
        log_dir=tmp_path, env=env(tmp_path),
    )  # fmt: skip
    assert used.returncode == 0, used.stderr
    assert 3.0 <= sf.info(tmp_path / "voices" / "me" / "reference.wav").duration <= 10.0


@pytest.mark.slow
def test_without_text_the_reference_is_transcribed_and_shown(tmp_path: Path) -> None:
    ref = clip(tmp_path / "me.wav", ["zh_study", "zh_weekend"])
    result = run_cli("voice", "add", "me", "--ref", str(ref), log_dir=tmp_path, env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    heard = re.search(r"transcribed: (.+?)   \(", result.stdout)
    assert heard and "专心" in heard[1] and "学习" in heard[1], result.stdout
    assert heard[1] in run_cli("voice", "show", "me", log_dir=tmp_path, env=env(tmp_path)).stdout


def test_doctor_checks_the_voice_and_the_server(tmp_path: Path) -> None:
    ref = clip(tmp_path / "me.wav", ["zh_study", "zh_weekend"])
    run_cli("voice", "add", "me", "--ref", str(ref), "--text", TEXT, log_dir=tmp_path, env=env(tmp_path))
    with FakeGptSovits() as server:
        up = run_cli(
            "doctor", log_dir=tmp_path,
            env=env(tmp_path, OLLAMA_HOST=unused_local_url(), LOCALVOICE_TTS_GPT_SOVITS_URL=server.url),
        )  # fmt: skip
    assert re.search(r"^ok +cloned voice: me: reference .* is usable", up.stdout, re.M), up.stdout
    assert re.search(r"^ok +gpt-sovits: answers at", up.stdout, re.M), up.stdout
    (tmp_path / "voices" / "me" / "reference.wav").unlink()
    down = run_cli(
        "doctor", log_dir=tmp_path,
        env=env(tmp_path, OLLAMA_HOST=unused_local_url(), LOCALVOICE_TTS_BACKEND="gpt_sovits",
                LOCALVOICE_TTS_GPT_SOVITS_URL=unused_local_url()),
    )  # fmt: skip
    assert re.search(r"^!! +cloned voice: me: reference .*does not exist", down.stdout, re.M), down.stdout
    assert re.search(r"^!! +gpt-sovits: not reachable", down.stdout, re.M) and "api_v2.py" in down.stdout
    assert down.returncode == 1 and "Traceback" not in down.stderr


def test_at_a_terminal_the_best_window_is_offered_and_taken(tmp_path: Path) -> None:
    from tests.e2e.test_cli_habits import _run_in_terminal

    long = clip(tmp_path / "long.wav", ["zh_study", "zh_weekend", "zh_sleep", "zh_dinner"] * 2, pause_s=0.8)
    argv = ["voice", "add", "me", "--ref", str(long), "--text", "x"]
    code, shown = _run_in_terminal(argv, {**env(tmp_path), "LOCALVOICE_LOG_DIR": str(tmp_path)}, "n")
    assert code == 2 and "The best window is" in shown and "no reference chosen" in shown, shown
    code, shown = _run_in_terminal(argv, {**env(tmp_path), "LOCALVOICE_LOG_DIR": str(tmp_path)}, "")
    assert code == 0, shown
    assert 3.0 <= sf.info(tmp_path / "voices" / "me" / "reference.wav").duration <= 10.0
