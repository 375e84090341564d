"""An embedded persona (no server): a GGUF FROM of the user's own, its SYSTEM and PARAMETERs, through
``localvoice chat --text`` with the real packaged model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from localvoice.cli.main import main
from localvoice.config import LLMConfig
from localvoice.errors import ConfigError
from localvoice.models.packaged import ensure_model
from localvoice.persona import store
from localvoice.persona.apply import persona_config, persona_examples, persona_system
from tests.e2e.cli_runner import run_cli


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return data


def _modelfile(tmp_path: Path, from_: str) -> Path:
    path = tmp_path / "Modelfile"
    path.write_text(
        f"FROM {from_}\nPARAMETER temperature 0\nPARAMETER seed 7\nPARAMETER num_predict 48\n"
        'SYSTEM """你是“学无涯”在线学习平台的客服，名叫小涯。\n每次回答都用一句简短的中文，并说出你的名字。"""\n'
        "MESSAGE user 你好\nMESSAGE assistant 你好，我是小涯，有什么可以帮你？\n",
        encoding="utf-8",
    )
    return path


def test_embedded_persona_applies_model_system_parameters_and_examples(tmp_path: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")  # only its path matters here
    assert (
        main(
            [
                "persona",
                "create",
                "xiaoya",
                "-f",
                str(_modelfile(tmp_path, "./mine.gguf")),
                "--backend",
                "embedded",
            ]
        )
        == 0
    )

    llm = LLMConfig(persona="xiaoya")
    applied = persona_config(llm, embedded=True)
    assert applied.model == str(gguf.resolve())
    assert (applied.temperature, applied.seed, applied.num_predict) == (0.0, 7, 48)
    assert persona_system(llm).startswith("你是“学无涯”")
    assert [m.role for m in persona_examples(llm)] == ["user", "assistant"]
    assert persona_config(LLMConfig(persona="none"), embedded=True) == LLMConfig(persona="none")
    assert store.active_persona(LLMConfig()) is None
    with pytest.raises(ConfigError, match="is for the embedded model only"):
        persona_config(llm, embedded=False)  # Ollama does not have it


def test_embedded_refuses_what_llama_cpp_cannot_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _modelfile(tmp_path, "qwen2.5:7b")
    assert main(["persona", "create", "p", "-f", str(path), "--backend", "embedded"]) == 2
    assert "neither a .gguf file nor a packaged model" in capsys.readouterr().err


@pytest.mark.slow
def test_chat_speaks_as_the_embedded_persona(tmp_path: Path) -> None:
    gguf = ensure_model("qwen2.5-coder-1.5b")  # the user's "own" GGUF: any file path works
    modelfile = _modelfile(tmp_path, str(gguf))
    assert main(["persona", "create", "xiaoya", "-f", str(modelfile), "--backend", "embedded"]) == 0
    result = run_cli(
        "--set",
        "llm.backend=llama_cpp",
        "--set",
        "llm.persona=xiaoya",
        "--set",
        "llm.tell_time=false",
        "chat",
        "--text",
        "--mute",
        stdin="请问你叫什么名字？\n",
        log_dir=tmp_path / "logs",
        env={"XDG_DATA_HOME": str(tmp_path / "data")},
        timeout_s=600,
    )
    assert result.returncode == 0, result.stderr
    answer = "".join(line for line in result.stdout.splitlines() if line.startswith("AI: "))
    assert "小涯" in answer, result.stdout


def test_an_adapter_gone_since_create_is_one_clear_error(tmp_path: Path) -> None:
    from localvoice.persona.apply import persona_adapter

    (tmp_path / "mine.gguf").write_bytes(b"GGUF")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF")
    path = tmp_path / "Modelfile"
    path.write_text("FROM ./mine.gguf\nADAPTER ./lora.gguf\n", encoding="utf-8")
    assert main(["persona", "create", "tuned", "-f", str(path), "--backend", "embedded", "--use"]) == 0
    assert persona_adapter(LLMConfig()) == str((tmp_path / "lora.gguf").resolve())
    (tmp_path / "lora.gguf").unlink()
    with pytest.raises(ConfigError, match=r"ADAPTER .*lora\.gguf no longer exists"):
        persona_adapter(LLMConfig())


def test_an_adapter_only_ollama_applies_is_named_on_the_embedded_backend(tmp_path: Path) -> None:
    """Registered with Ollama, a PEFT folder ADAPTER is fine there; the embedded backend says why not."""
    (tmp_path / "mine.gguf").write_bytes(b"GGUF")
    (tmp_path / "peft").mkdir()
    path = tmp_path / "Modelfile"
    path.write_text("FROM ./mine.gguf\nADAPTER ./peft\n", encoding="utf-8")
    store.save("tuned", path.read_text(encoding="utf-8"), "", on_ollama=True)
    with pytest.raises(ConfigError, match=re.escape("ADAPTER './peft', which only Ollama applies")):
        persona_config(LLMConfig(persona="tuned"), embedded=True)
