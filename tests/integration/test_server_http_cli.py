"""``localvoice serve`` as a user runs it: a real process loads the models, prints the URL, answers,
and stops cleanly on Ctrl-C (SIGINT), exit status 0 and no traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server_fixtures import free_port

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 600.0


def test_serve_prints_the_url_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "localvoice.cli.main", "serve", "--port", str(port), "--token", "abc",
        "--set", "llm.backend=llama_cpp", "--set", "llm.persona=none", "--set", "tts.backend=packaged",
        "--set", f"log.dir={tmp_path}",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once the models are loaded
        assert first.strip() == f"localvoice: open http://127.0.0.1:{port}/?token=abc to talk", first
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                reply = httpx.get(
                    f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer abc"}
                )
                break
            except httpx.ConnectError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr
                time.sleep(0.2)
        assert reply.status_code == 200 and len(reply.json()["data"]) == 3
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert stderr.strip().endswith("localvoice: server stopped") and "Traceback" not in stderr, stderr
