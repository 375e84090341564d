"""Fine-tuning end to end, no download: a tiny random Llama with a sentencepiece tokenizer trained here on
the example data → LoRA (held-out loss falls) → merged → GGUF with llama.cpp's converter → loads in
llama-cpp-python and generates → the Modelfile parses back → the embedded persona answers in chat."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localvoice.cli.main import main
from localvoice.persona.modelfile import parse_file
from tests.e2e.cli_runner import run_cli
from tests.fake_ollama import FakeOllama

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "learning_platform_qa.jsonl"
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tiny_llama(folder: Path) -> Path:
    """Hidden 64, 2 layers, random weights; a BPE sentencepiece vocabulary of the example data."""
    import sentencepiece
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True)
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    corpus = folder / "corpus.txt"
    corpus.write_text(
        "\n".join(f"{r['content']}\n{r['response']}" for r in rows) + "\nsystem user assistant\n"
    )
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "tokenizer"),
        vocab_size=1000,
        model_type="bpe",
        character_coverage=1.0,
        byte_fallback=True,
        user_defined_symbols=["<|im_start|>", "<|im_end|>"],
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    config = {"tokenizer_class": "LlamaTokenizer", "eos_token": "<|im_end|>", "chat_template": CHATML}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(model_config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="module")
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A user data dir of its own, with llama.cpp's converter set up there (fetched once by pip)."""
    home = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(home))
        assert main(["finetune", "--setup-converter"]) == 0
        yield home


@pytest.mark.slow
def test_finetune_tiny_llama_to_gguf_and_chat(
    tmp_path: Path,
    tiny_base: Path,
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llama_cpp

    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    base = tiny_base
    out = tmp_path / "tuned"
    args = ["finetune", str(DATA), "--base", str(base), "--out", str(out), "--epochs", "10", "--lr", "3e-3"]
    assert main([*args, "--persona", "tiny"]) == 0
    report = capsys.readouterr().out

    before, after = (float(x) for x in report.split("held-out loss ")[1].split()[0:3:2])
    assert after < before - 0.1, report
    assert report.count("  tuned: ") == 3  # held-out questions answered side by side
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "merged" / "model.safetensors").is_file()

    llm = llama_cpp.Llama(str(out / "model.gguf"), n_ctx=256, verbose=False)
    assert llm.metadata["general.file_type"] == "7"  # Q8_0
    reply = llm.create_chat_completion([{"role": "user", "content": "课程可以退款吗？"}], max_tokens=8)
    assert reply["choices"][0]["message"]["content"]  # type: ignore[index]

    modelfile = parse_file(out / "Modelfile")
    assert modelfile.from_ == "./model.gguf" and modelfile.stop == ["<|im_end|>"]
    assert modelfile.template is not None and "<|im_start|>assistant" in modelfile.template

    # --persona made it the embedded persona: chat speaks with the tuned GGUF, no server.
    result = run_cli(
        "--set",
        "llm.backend=llama_cpp",
        "--set",
        "llm.tell_time=false",
        "chat",
        "--text",
        "--mute",
        stdin="课程可以退款吗？\n",
        log_dir=tmp_path / "logs",
        env={"XDG_DATA_HOME": str(data_home)},
    )
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("AI: ") and len(line) > 4 for line in result.stdout.splitlines()), (
        result.stdout
    )
    # llama.cpp's own warning names the tiny model's trained context: the tuned file, not the packaged one.
    assert "n_ctx_train (512)" in result.stderr

    # The written Modelfile registers with Ollama as it is: the GGUF goes up as a blob, then /api/create.
    with FakeOllama() as server:
        host = f"llm.host={server.url}"
        assert (
            main(
                [
                    "--set",
                    host,
                    "persona",
                    "create",
                    "tuned",
                    "-f",
                    str(out / "Modelfile"),
                    "--backend",
                    "ollama",
                ]
            )
            == 0
        )
        digest = "sha256:" + hashlib.sha256((out / "model.gguf").read_bytes()).hexdigest()
        body = server.created["tuned:latest"]
        assert body["files"] == {"model.gguf": digest} and digest in server.blobs
        assert body["template"] == modelfile.template and body["parameters"]["stop"] == ["<|im_end|>"]


@pytest.mark.slow
def test_a_gguf_is_a_base_too(
    tmp_path: Path, tiny_base: Path, data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the packaged model is: transformers reads the GGUF de-quantised, and the merged model saves."""
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    first, second = tmp_path / "first", tmp_path / "second"
    assert (
        main(["finetune", str(DATA), "--base", str(tiny_base), "--out", str(first), "--max-steps", "1"]) == 0
    )
    assert (
        main(
            [
                "finetune",
                str(DATA),
                "--base",
                str(first / "model.gguf"),
                "--out",
                str(second),
                "--max-steps",
                "2",
            ]
        )
        == 0
    )
    assert (second / "merged" / "model.safetensors").is_file() and (second / "model.gguf").is_file()


def test_labels_cover_only_the_assistant_replies(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    from localvoice.persona.dataset import Example
    from localvoice.persona.finetune import IGNORE, encode

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    turns = (
        ("system", "你是小涯。"),
        ("user", "能退款吗？"),
        ("assistant", "可以退款。"),
        ("user", "多久到账？"),
    )
    example = Example(1, (*turns, ("assistant", "三到五个工作日。")))
    ids, labels = encode(tokenizer, example, max_length=512)
    learnt = str(tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != IGNORE]))
    assert learnt.replace(" ", "") == "可以退款。<|im_end|>\n三到五个工作日。<|im_end|>\n".replace(" ", "")
    assert all(label in (IGNORE, i) for i, label in zip(ids, labels, strict=True))
    cut_ids, cut_labels = encode(tokenizer, example, max_length=10)
    assert (cut_ids, cut_labels) == (ids[-10:], labels[-10:])  # the end, which holds the last answer


def test_training_without_base_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["finetune", str(DATA), "--out", "x"]) == 2
    assert "training needs --base BASE and --out DIR" in capsys.readouterr().err


def test_a_base_that_is_not_a_model_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["finetune", str(DATA), "--base", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "is not a Hugging Face model folder" in capsys.readouterr().err


def _last_logits(model: Path, prompt: str, lora: Path | None = None) -> Any:
    import llama_cpp
    import numpy as np

    lora_path = str(lora) if lora else None
    llm = llama_cpp.Llama(str(model), n_ctx=128, verbose=False, logits_all=True, lora_path=lora_path)
    tokens = llm.tokenize(prompt.encode("utf-8"))
    llm.eval(tokens)
    logits = np.array(llm.scores[len(tokens) - 1])
    llm.close()
    return logits


@pytest.mark.slow
def test_adapter_gguf_on_the_embedded_backend_and_q4_k_m(
    tmp_path: Path,
    tiny_base: Path,
    data_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tuned adapter as a LoRA GGUF: llama.cpp applies it over the base GGUF as merging would, a
    persona FROM base + ADAPTER chats with it; and the merged model quantised to Q4_K_M loads, generates
    and is smaller than Q8_0."""
    import llama_cpp

    from localvoice.persona.export import convert

    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    out = tmp_path / "tuned"
    args = ["finetune", str(DATA), "--base", str(tiny_base), "--out", str(out), "--lr", "3e-3"]
    assert main([*args, "--max-steps", "60", "--quant", "q4_k_m"]) == 0
    assert "wrote " + str(out / "adapter.gguf") in capsys.readouterr().out

    # Q4_K_M: llama.cpp's quantiser through llama-cpp-python; it loads, generates and is the smallest.
    q8 = tmp_path / "q8.gguf"
    convert(out / "merged", q8, "q8_0")
    assert (out / "model.gguf").stat().st_size < q8.stat().st_size
    llm = llama_cpp.Llama(str(out / "model.gguf"), n_ctx=128, verbose=False)
    assert llm.metadata["general.file_type"] == "15"  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    assert llm.create_completion("课程", max_tokens=4)["choices"][0]["text"]  # type: ignore[index]
    llm.close()

    # base + adapter.gguf computes what the merged model computes (both at f32 here, the adapter f16).
    base_gguf, merged_gguf = tmp_path / "base.gguf", tmp_path / "merged.gguf"
    convert(tiny_base, base_gguf, "f32")
    convert(out / "merged", merged_gguf, "f32")
    prompt = "<|im_start|>user\n课程可以退款吗？<|im_end|>\n<|im_start|>assistant\n"
    merged = _last_logits(merged_gguf, prompt)
    untuned_gap = abs(_last_logits(base_gguf, prompt) - merged).max()
    adapter_gap = abs(_last_logits(base_gguf, prompt, out / "adapter.gguf") - merged).max()
    assert untuned_gap > 0.05 and adapter_gap < untuned_gap / 20, (untuned_gap, adapter_gap)

    # A persona FROM the base GGUF with ADAPTER: the embedded backend loads both and answers.
    (tmp_path / "Modelfile").write_text(
        f"FROM ./base.gguf\nADAPTER {out / 'adapter.gguf'}\nPARAMETER temperature 0\nSYSTEM 你是小涯。\n",
        encoding="utf-8",
    )
    create = ["persona", "create", "tiny-lora", "-f", str(tmp_path / "Modelfile")]
    assert main([*create, "--backend", "embedded", "--use"]) == 0
    assert "embedded + adapter" in capsys.readouterr().out
    from localvoice.backends.llm.llama_cpp import LlamaCppLLM
    from localvoice.config import load_config

    backend = LlamaCppLLM.from_config(load_config(None, ["llm.backend=llama_cpp"]).llm)
    assert backend.description == "llama.cpp base.gguf + adapter.gguf"  # the persona's FROM and ADAPTER
    asyncio.run(backend.aclose())
    result = run_cli(
        "--set",
        "llm.backend=llama_cpp",
        "--set",
        "llm.tell_time=false",
        "chat",
        "--text",
        "--mute",
        stdin="课程可以退款吗？\n",
        log_dir=tmp_path / "logs",
        env={"XDG_DATA_HOME": str(data_home)},
    )
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("AI: ") and len(line) > 4 for line in result.stdout.splitlines()), (
        result.stdout
    )


def test_an_adapter_the_embedded_backend_cannot_apply_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    (tmp_path / "peft").mkdir()
    create = ["persona", "create", "x", "-f", str(tmp_path / "Modelfile"), "--backend", "embedded"]
    (tmp_path / "Modelfile").write_text("FROM ./model.gguf\nADAPTER ./peft\n", encoding="utf-8")
    assert main(create) == 2
    assert "ADAPTER './peft' is not a LoRA .gguf file" in capsys.readouterr().err
    (tmp_path / "Modelfile").write_text("FROM ./model.gguf\nADAPTER ./a.gguf\nADAPTER ./b.gguf\n")
    assert main(create) == 2
    assert "applies one ADAPTER" in capsys.readouterr().err
