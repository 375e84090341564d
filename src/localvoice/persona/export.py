"""The tuned model as a GGUF and a Modelfile, for Ollama (``persona create``) and the embedded backend.

The GGUF comes from llama.cpp's own ``convert_hf_to_gguf.py``. It is not on PyPI as a module: it ships
in the llama-cpp-python source distribution (``vendor/llama.cpp/``), so ``setup_converter()`` (``localvoice
finetune --setup-converter``) fetches that sdist once with pip, the ordinary client, and keeps the
converter under the user data dir; it is never committed. The converter runs on the gguf-py copy it
ships with (PyPI's ``gguf`` 0.19 lacks what it needs; the ``finetune`` extra's ``gguf`` is for
transformers reading a GGUF base). Without the converter, DIR keeps the merged safetensors folder, which
Ollama imports directly for Llama and Qwen2 models, and the Modelfile points at that.

Q8_0 comes straight from the converter. Q4_K_M does not (the converter writes float and Q8_0 types only):
the converter writes F16 and llama.cpp's own quantiser, reached through llama-cpp-python's ctypes
bindings (``llama_model_quantize``), turns it into Q4_K_M. The adapter alone also becomes a LoRA GGUF
(``convert_lora_to_gguf.py``) that llama.cpp applies over the base at load time (Modelfile ``ADAPTER``).
"""

from __future__ import annotations

import ctypes
import json
import os
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
LORA_CONVERTER = "convert_lora_to_gguf.py"
QUANTS = ("q8_0", "q4_k_m", "f16")  # --quant choices; the first is the default
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


def _run_script(script: str, arguments: list[str], what: Path, outfile: Path) -> None:
    path = converter_dir() / script
    if not path.is_file():
        raise BackendError("llama.cpp's converter is not set up; run `localvoice finetune --setup-converter`")
    done = subprocess.run(
        [sys.executable, str(path), *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not outfile.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackendError(f"llama.cpp's {script} failed on {what}: {last}")


def convert(merged: Path, outfile: Path, outtype: str = "q8_0") -> None:
    _run_script(CONVERTER, [str(merged), "--outfile", str(outfile), "--outtype", outtype], merged, outfile)


def convert_adapter(adapter: Path, merged: Path, outfile: Path) -> None:
    """The PEFT adapter as a LoRA GGUF; the converter needs only the base's config.json, which merged/ has."""
    arguments = [str(adapter), "--base", str(merged), "--outfile", str(outfile), "--outtype", "f16"]
    _run_script(LORA_CONVERTER, arguments, adapter, outfile)


def quantize(source: Path, outfile: Path, quant: str) -> None:
    """llama.cpp's quantiser on a float GGUF (``q4_k_m`` or ``q8_0``), through llama-cpp-python."""
    try:
        import llama_cpp
    except ImportError:
        raise BackendError(f"quantising to {quant.upper()} needs llama-cpp-python (the llm extra)") from None
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, "q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0}[
        quant
    ]
    params.nthread = max(1, (os.cpu_count() or 1))
    failed = llama_cpp.llama_model_quantize(str(source).encode(), str(outfile).encode(), ctypes.byref(params))
    if failed or not outfile.is_file():
        raise BackendError(f"llama.cpp could not quantise {source} to {quant.upper()}")


def to_gguf(merged: Path, outfile: Path, quant: str, notify: Notify) -> None:
    """The merged model as one GGUF of type ``quant``; F16 when that type cannot be made here."""
    if quant == "q4_k_m":
        f16 = outfile.with_name(outfile.stem + ".f16.gguf")
        convert(merged, f16, "f16")
        try:
            quantize(f16, outfile, quant)
        except BackendError as error:
            notify(f"{error}; keeping F16")
            f16.replace(outfile)
        finally:
            f16.unlink(missing_ok=True)
        return
    try:
        convert(merged, outfile, quant)
    except BackendError as error:  # the converter's Q8_0 needs rows that are multiples of 32
        if quant == "f16":
            raise
        notify(f"{quant.upper()} failed ({error}); writing F16")
        convert(merged, outfile, "f16")


def export_gguf(out: Path, dataset: Dataset, system: str, notify: Notify, quant: str = "q8_0") -> list[Path]:
    """``out/model.gguf`` of type ``quant`` (else F16) and ``out/adapter.gguf`` when the converter is
    set up, and ``out/Modelfile``."""
    merged = out / "merged"
    written: list[Path] = []
    source = "./merged"
    if find_converter() is None:
        notify("no GGUF: llama.cpp's converter is not set up (`localvoice finetune --setup-converter`)")
    else:
        gguf = out / "model.gguf"
        notify(f"writing {gguf} ({quant.upper()})")
        to_gguf(merged, gguf, quant, notify)
        written.append(gguf)
        source = "./model.gguf"
        lora = out / "adapter.gguf"
        try:
            convert_adapter(out / "adapter", merged, lora)
            written.append(lora)
        except BackendError as error:  # the merged GGUF is what chat needs; the adapter file is extra
            notify(f"no adapter.gguf: {error}")
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
