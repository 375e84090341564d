"""User mistakes and unreachable servers: one clear line, the documented exit code, no traceback."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.e2e.cli_runner import SPEECH, run_cli
from tests.fake_ollama import unused_local_url


def _truncated_wav(path: Path) -> Path:
    data = (SPEECH / "question_en.wav").read_bytes()
    path.write_bytes(data[: len(data) // 3])  # the header still promises the whole clip
    return path


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("not_audio.wav", lambda p: p.write_text("this is not audio")),
        ("empty.wav", lambda p: p.write_bytes(b"")),
        ("missing.wav", lambda p: None),
        ("header_only.wav", lambda p: p.write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt ")),
    ],
)
@pytest.mark.parametrize("command", ["turn", "transcribe"])
def test_bad_audio_gives_exit_2_and_one_line(tmp_path: Path, name: str, make: object, command: str) -> None:
    path = tmp_path / name
    make(path)  # type: ignore[operator]
    extra = ["--out", str(tmp_path / "out.wav")] if command == "turn" else []
    result = run_cli(command, str(path), *extra, log_dir=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert name in result.stderr
    assert not (tmp_path / "out.wav").exists()


def test_truncated_wav_is_reported(tmp_path: Path) -> None:
    path = _truncated_wav(tmp_path / "cut.wav")
    result = run_cli("transcribe", str(path), log_dir=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "cut.wav" in result.stderr


def test_unknown_config_key_and_bad_value(tmp_path: Path) -> None:
    result = run_cli("--set", "llm.modle=x", "config", "show", log_dir=tmp_path)
    assert result.returncode == 2 and "did you mean 'llm.model'" in result.stderr
    result = run_cli("--set", "llm.num_ctx=lots", "config", "show", log_dir=tmp_path)
    assert result.returncode == 2 and "llm.num_ctx" in result.stderr and "Traceback" not in result.stderr


def test_config_precedence_file_env_set(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[llm]\nmodel = "from-file"\ntemperature = 0.2\nnum_ctx = 2048\n', encoding="utf-8")
    result = run_cli(
        "--config",
        str(config),
        "--set",
        "llm.model=from-set",
        "config",
        "show",
        log_dir=tmp_path,
        env={
            "LOCALVOICE_LLM_TEMPERATURE": "0.5",
            "LOCALVOICE_LLM_MODEL": "from-env",
            "OLLAMA_HOST": "0.0.0.0:1234",
        },
    )
    assert result.returncode == 0, result.stderr
    assert 'model = "from-set"' in result.stdout
    assert "temperature = 0.5" in result.stdout
    assert "num_ctx = 2048" in result.stdout
    assert 'host = "http://127.0.0.1:1234"' in result.stdout


def test_chat_with_ollama_down_says_how_to_start_it(tmp_path: Path) -> None:
    result = run_cli(
        "--set",
        "llm.backend=ollama",
        "chat",
        "--text",
        "--mute",
        stdin="你好\n",
        log_dir=tmp_path,
        env={"OLLAMA_HOST": unused_local_url()},
    )
    assert result.returncode == 1
    assert "ollama serve" in result.stderr and "Traceback" not in result.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in (
        ["chat"],
        ["turn"],
        ["say"],
        ["transcribe"],
        ["doctor"],
        ["config", "show"],
        ["models"],
        ["devices"],
    ):
        result = run_cli(*command, "--help", log_dir=tmp_path, timeout_s=60)
        assert result.returncode == 0 and "usage:" in result.stdout, command


def test_config_show_masks_the_api_key(tmp_path: Path) -> None:
    result = run_cli("config", "show", log_dir=tmp_path, env={"LOCALVOICE_LLM_API_KEY": "sk-secret-123"})
    assert result.returncode == 0 and "sk-secret-123" not in result.stdout
    assert 'api_key = "***"' in result.stdout
