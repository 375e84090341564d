"""``localvoice persona`` against the protocol-faithful fake Ollama: blobs, /api/create, errors, use."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import ollama
import pytest

from localvoice.cli.main import main
from localvoice.config import LLMConfig
from localvoice.persona.modelfile import parse
from localvoice.persona.ollama_create import create_body
from tests.e2e.cli_runner import run_cli
from tests.fake_ollama import FakeOllama, fake_ollama_fixture, unused_local_url  # noqa: F401

MODELFILE = '''FROM ./model.gguf
ADAPTER ./lora.gguf
PARAMETER temperature 0.3
PARAMETER num_ctx 2048
PARAMETER top_k 20
PARAMETER stop <|im_end|>
PARAMETER stop 学员：
SYSTEM """你是“学无涯”在线学习平台的客服小涯。
回答简短、友好。"""
MESSAGE user 你是谁？
MESSAGE assistant 我是学无涯的客服小涯。
'''


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return data


def _files(folder: Path) -> Path:
    (folder / "model.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 40)
    (folder / "lora.gguf").write_bytes(b"GGUF-lora" + bytes(100))
    path = folder / "Modelfile"
    path.write_text(MODELFILE, encoding="utf-8")
    return path


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _persona(server: FakeOllama, *args: str) -> int:
    return main(["--set", f"llm.host={server.url}", "--set", "llm.backend=ollama", "persona", *args])


def _blob_calls(server: FakeOllama) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests if r.path.startswith("/api/blobs/")]


def test_create_uploads_missing_blobs_then_sends_a_typed_create_body(
    tmp_path: Path, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    modelfile = _files(tmp_path)
    model, lora = _sha(tmp_path / "model.gguf"), _sha(tmp_path / "lora.gguf")

    assert _persona(fake_ollama, "create", "tutor", "-f", str(modelfile)) == 0

    assert _blob_calls(fake_ollama) == [
        ("HEAD", f"/api/blobs/{model}"),
        ("POST", f"/api/blobs/{model}"),
        ("HEAD", f"/api/blobs/{lora}"),
        ("POST", f"/api/blobs/{lora}"),
    ]
    assert fake_ollama.blobs[model] == (tmp_path / "model.gguf").read_bytes()
    body = fake_ollama.created["tutor:latest"]
    assert body == {
        "model": "tutor",
        "stream": True,
        "files": {"model.gguf": model},
        "adapters": {"lora.gguf": lora},
        "system": "你是“学无涯”在线学习平台的客服小涯。\n回答简短、友好。",
        "parameters": {"temperature": 0.3, "num_ctx": 2048, "top_k": 20, "stop": ["<|im_end|>", "学员："]},
        "messages": [
            {"role": "user", "content": "你是谁？"},
            {"role": "assistant", "content": "我是学无涯的客服小涯。"},
        ],
    }
    assert isinstance(body["parameters"]["num_ctx"], int) and isinstance(
        body["parameters"]["temperature"], float
    )
    err = capsys.readouterr().err
    assert "uploading model.gguf" in err and "[success]" in err  # the status stream, shown

    # Again: the server has both blobs now, so nothing is uploaded.
    fake_ollama.requests.clear()
    assert _persona(fake_ollama, "create", "tutor", "-f", str(modelfile)) == 0
    assert [method for method, _ in _blob_calls(fake_ollama)] == ["HEAD", "HEAD"]
    assert "already has" in capsys.readouterr().err


def test_a_model_name_goes_as_from(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    path = tmp_path / "Modelfile"
    path.write_text("FROM qwen2.5:3b\nPARAMETER temperature 0.7\nPARAMETER num_ctx 4096\nSYSTEM 你好\n")
    assert _persona(fake_ollama, "create", "plain", "-f", str(path)) == 0
    assert _blob_calls(fake_ollama) == []
    body = fake_ollama.created["plain:latest"]
    assert body["from"] == "qwen2.5:3b" and "files" not in body
    assert body["parameters"] == {"temperature": 0.7, "num_ctx": 4096}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing_from", "answered 404: model 'nosuch:7b' not found"),
        ("stream_error", "Ollama could not create the model: unsupported architecture"),
        ("unreachable", "cannot reach Ollama at"),
        ("bad_modelfile", "Modelfile line 2: PARAMETER num_ctx needs a whole number"),
    ],
)
def test_errors_are_one_line(
    tmp_path: Path,
    fake_ollama: FakeOllama,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    message: str,
) -> None:
    path = tmp_path / "Modelfile"
    text = {"missing_from": "FROM nosuch:7b\n", "bad_modelfile": "FROM x\nPARAMETER num_ctx big\n"}
    path.write_text(text.get(setup, "FROM qwen2.5:3b\n"), encoding="utf-8")
    fake_ollama.create_error = "unsupported architecture" if setup == "stream_error" else None
    host = unused_local_url() if setup == "unreachable" else fake_ollama.url
    code = main(
        ["--set", f"llm.host={host}", "persona", "create", "p", "-f", str(path), "--backend", "ollama"]
    )
    err = capsys.readouterr().err
    assert code == (2 if setup == "bad_modelfile" else 1)
    assert message in err
    assert err.count("\n") == 1 and err.startswith("localvoice: ") and "Traceback" not in err


def test_the_create_body_matches_the_official_client(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    """The official client's create_blob/create against the fake, and our body for the same Modelfile."""
    _files(tmp_path)
    client = ollama.Client(host=fake_ollama.url)
    digest = client.create_blob(tmp_path / "model.gguf")
    assert fake_ollama.blobs[digest] == (tmp_path / "model.gguf").read_bytes()
    parameters: dict[str, Any] = {"temperature": 0.3, "stop": ["<|im_end|>"]}
    messages = [{"role": "user", "content": "你是谁？"}]
    client.create(
        model="official",
        files={"model.gguf": digest},
        system="小涯",
        parameters=parameters,
        messages=messages,
    )
    official = fake_ollama.created["official:latest"]

    modelfile = parse(
        "FROM ./model.gguf\nSYSTEM 小涯\nPARAMETER temperature 0.3\nPARAMETER stop <|im_end|>\nMESSAGE user 你是谁？\n"
    )
    ours = create_body("official", modelfile, {"model.gguf": digest}, {})
    assert ours == official | {"stream": True}


def test_use_makes_the_persona_reach_every_chat_request(tmp_path: Path, fake_ollama: FakeOllama) -> None:
    modelfile = _files(tmp_path)
    assert _persona(fake_ollama, "create", "tutor", "-f", str(modelfile), "--use") == 0
    result = run_cli(
        "--set",
        "llm.backend=ollama",
        "chat",
        "--text",
        "--mute",
        stdin="退款怎么办？\n",
        log_dir=tmp_path / "logs",
        env={"OLLAMA_HOST": fake_ollama.url, "XDG_DATA_HOME": str(tmp_path / "data")},
    )
    assert result.returncode == 0, result.stderr
    chat = next(b for b in fake_ollama.chat_bodies() if b.get("messages"))
    assert chat["model"] == "tutor"
    assert chat["options"]["temperature"] == 0.3 and chat["options"]["num_ctx"] == 2048
    assert chat["options"]["stop"] == ["<|im_end|>", "学员："]
    roles = [m["role"] for m in chat["messages"]]
    assert roles[:3] == ["system", "user", "assistant"] and roles[-1] == "user"
    assert chat["messages"][0]["content"].startswith("你是“学无涯”在线学习平台的客服小涯。")
    assert chat["messages"][1]["content"] == "你是谁？"


def test_list_show_use_remove(
    tmp_path: Path, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    modelfile = _files(tmp_path)
    assert _persona(fake_ollama, "create", "tutor", "-f", str(modelfile)) == 0
    assert _persona(fake_ollama, "use", "tutor") == 0
    capsys.readouterr()
    assert _persona(fake_ollama, "list") == 0
    # its ADAPTER is a .gguf file, so llama.cpp can apply it too
    assert capsys.readouterr().out.startswith("* tutor (FROM ./model.gguf; ollama, embedded + adapter)")
    assert _persona(fake_ollama, "show", "tutor") == 0
    assert parse(capsys.readouterr().out) == parse(MODELFILE)
    assert _persona(fake_ollama, "remove", "tutor") == 0
    assert "tutor:latest" not in fake_ollama.models
    assert [r.path for r in fake_ollama.requests if r.method == "DELETE"] == ["/api/delete"]
    capsys.readouterr()
    assert _persona(fake_ollama, "show", "tutor") == 2
    assert "no persona 'tutor'" in capsys.readouterr().err
    assert LLMConfig().persona == ""
