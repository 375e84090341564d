"""The tuned model as a GGUF and a Modelfile, for Ollama (``persona create``) and the embedded backend.

The GGUF comes from llama.cpp's own ``convert_hf_to_gguf.py``. It is not on PyPI as a module: it ships
in the llama-cpp-python source distribution (``vendor/llama.cpp/``), so ``setup_converter()`` (``localvoice
finetune --setup-converter``) fetches that sdist once with pip, the ordinary client, and keeps the
converter under the user data dir; it is never committed. The converter runs on the gguf-py copy it
ships with (PyPI's ``gguf`` 0.19 lacks what it needs; the ``finetune`` extra's ``gguf`` is for
transformers reading a GGUF base). Without the converter, DIR keeps the merged safetensors folder, which
Ollama imports directly for Llama and Qwen2 models, and the Modelfile points at that.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from localvoice.config import data_dir
from localvoice.errors import BackendError
from localvoice.persona.dataset import Dataset
from localvoice.persona.modelfile import Modelfile, write

Notify = Callable[[str], None]
CONVERTER = "convert_hf_to_gguf.py"
# Ollama's ChatML template (Qwen2.5's), for a tuned model whose Jinja template is ChatML.
CHATML_TEMPLATE = """{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""


def converter_dir() -> Path:
    return data_dir() / "llama.cpp-converter"


def find_converter() -> Path | None:
    path = converter_dir() / CONVERTER
    return path if path.is_file() else None


def setup_converter(notify: Notify) -> Path:
    """Fetch the llama-cpp-python sdist matching the installed version and keep its converter scripts."""
    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        version = "0.3.36"
    target = converter_dir()
    with tempfile.TemporaryDirectory() as temp:
        notify(f"fetching llama-cpp-python {version}'s source for llama.cpp's GGUF converter (once)")
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-binary=:all:", "--no-deps"]
        done = subprocess.run(
            [*command, f"llama-cpp-python=={version}", "-d", temp],
            capture_output=True,
            text=True,
            check=False,
        )
        archives = sorted(Path(temp).glob("llama_cpp_python-*.tar.gz"))
        if done.returncode != 0 or not archives:
            last = (done.stderr.strip().splitlines() or ["no archive"])[-1]
            raise BackendError(f"could not fetch llama-cpp-python {version}'s source with pip: {last}")
        with tarfile.open(archives[0]) as archive:
            members = [m for m in archive.getmembers() if _wanted(m.name)]
            if not any(m.name.endswith("/" + CONVERTER) for m in members):
                raise BackendError(f"llama-cpp-python {version}'s source has no vendor/llama.cpp/{CONVERTER}")
            for member in members:
                relative = member.name.split("/vendor/llama.cpp/", 1)[1]
                member.name = relative
                archive.extract(member, target, filter="data")
    return target / CONVERTER


def _wanted(name: str) -> bool:
    """The converters, their ``conversion`` modules and the gguf-py they were written against."""
    if "/vendor/llama.cpp/" not in name:
        return False
    relative = name.split("/vendor/llama.cpp/", 1)[1]
    if relative.startswith("convert_") and relative.endswith(".py"):
        return True
    return relative.startswith(("conversion/", "gguf-py/gguf/"))


def convert(merged: Path, outfile: Path, outtype: str = "q8_0") -> None:
    converter = find_converter()
    if converter is None:
        raise BackendError("llama.cpp's converter is not set up; run `localvoice finetune --setup-converter`")
    command = [sys.executable, str(converter), str(merged), "--outfile", str(outfile), "--outtype", outtype]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not outfile.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackendError(f"llama.cpp's converter failed on {merged}: {last}")


def export_gguf(out: Path, dataset: Dataset, system: str, notify: Notify) -> list[Path]:
    """``out/model.gguf`` (Q8_0, else F16) when the converter is set up, and ``out/Modelfile``."""
    merged = out / "merged"
    written: list[Path] = []
    source = "./merged"
    if find_converter() is None:
        notify("no GGUF: llama.cpp's converter is not set up (`localvoice finetune --setup-converter`)")
    else:
        gguf = out / "model.gguf"
        try:
            convert(merged, gguf, "q8_0")
        except BackendError as error:  # Q8_0 needs rows that are multiples of 32
            notify(f"Q8_0 failed ({error}); writing F16")
            convert(merged, gguf, "f16")
        written.append(gguf)
        source = "./model.gguf"
    modelfile = make_modelfile(source, merged, dataset, system)
    path = out / "Modelfile"
    path.write_text(write(modelfile), encoding="utf-8")
    written.append(path)
    return written


def make_modelfile(source: str, merged: Path, dataset: Dataset, system: str) -> Modelfile:
    """FROM the tuned model; ChatML gets Ollama's ChatML TEMPLATE and stop word, else the GGUF's own."""
    chat_template = ""
    config = merged / "tokenizer_config.json"
    if config.is_file():
        chat_template = str(json.loads(config.read_text(encoding="utf-8")).get("chat_template") or "")
    if not chat_template and (merged / "chat_template.jinja").is_file():
        chat_template = (merged / "chat_template.jinja").read_text(encoding="utf-8")
    modelfile = Modelfile(from_=source, parameters={"temperature": 0.3, "num_ctx": 4096})
    if "<|im_start|>" in chat_template:
        modelfile.template = CHATML_TEMPLATE
        modelfile.parameters["stop"] = ["<|im_end|>"]
    systems = [e.messages[0][1] for e in dataset.train if e.messages[0][0] == "system"]
    if system or systems:
        modelfile.system = system or systems[0]
    return modelfile
