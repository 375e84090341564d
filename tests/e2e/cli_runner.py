"""Run the real ``localvoice`` command in a subprocess with an isolated log directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEECH = REPO / "tests" / "fixtures" / "speech"


def run_cli(
    *args: str,
    log_dir: Path,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout_s: float = 300,
) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOCALVOICE_") and k != "OLLAMA_HOST"},
        "LOCALVOICE_LOG_DIR": str(log_dir),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "localvoice.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout_s,
        check=False,
    )
