"""tests/conftest.py turns skips into failures under CI=true / LOCALVOICE_STRICT_SKIPS=1: a pytest run
in a subprocess on a tiny test file proves it, with and without the switch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TINY = """
import os

import pytest

def test_passes():
    # The code under test reads LOCALVOICE_* variables as config: the switch must not reach it.
    assert "LOCALVOICE_STRICT_SKIPS" not in os.environ

@pytest.mark.slow
def test_needs_a_model():
    pytest.skip("the model package is not installed")

@pytest.mark.skipif(True, reason="espeak-ng is missing")
def test_marked_skipif():
    pass

@pytest.mark.allow_skip(reason="only runs on a machine without a sound card")
def test_allowed():
    pytest.skip("this machine has a sound card")

@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    assert False
"""

WHOLE_FILE = """
import pytest

pytest.importorskip("no_such_module_for_localvoice_tests")

def test_never_collected():
    pass
"""


def run_pytest(tmp_path: Path, source: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_tiny.py"
    test_file.write_text(source, encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "LOCALVOICE_STRICT_SKIPS")}
    environment["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider"]
    command += ["-c", os.devnull, "--rootdir", str(tmp_path), "-q", "-ra", str(test_file)]
    return subprocess.run(
        command,
        cwd=REPO,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_the_switch_skips_are_only_reported(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, TINY, {})
    assert result.returncode == 0, result.stdout
    assert "1 passed, 3 skipped, 1 xfailed" in result.stdout.strip().splitlines()[-1]
    assert "SKIPPED" in result.stdout  # -ra prints the summary with the reasons


@pytest.mark.parametrize("switch", [{"LOCALVOICE_STRICT_SKIPS": "1"}, {"CI": "true"}])
def test_with_the_switch_a_skip_fails_unless_allowed(tmp_path: Path, switch: dict[str, str]) -> None:
    result = run_pytest(tmp_path, TINY, switch)
    assert result.returncode == 1, result.stdout
    # A skip inside the test fails it; a skipif mark (checked at set-up) becomes an error.
    summary = result.stdout.strip().splitlines()[-1]
    for count in ("1 failed", "1 passed", "1 skipped", "1 xfailed", "1 error"):
        assert count in summary, summary
    assert "FAILED" in result.stdout and "test_needs_a_model" in result.stdout
    assert "ERROR" in result.stdout and "test_marked_skipif" in result.stdout
    assert "the model package is not installed" in result.stdout  # the reason is kept
    assert "espeak-ng is missing" in result.stdout
    assert "skips fail under CI=true / LOCALVOICE_STRICT_SKIPS=1" in result.stdout


def test_a_file_skipped_at_import_fails_the_run_too(tmp_path: Path) -> None:
    relaxed = run_pytest(tmp_path, WHOLE_FILE, {})
    assert relaxed.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, relaxed.stdout  # not a failure
    strict = run_pytest(tmp_path, WHOLE_FILE, {"LOCALVOICE_STRICT_SKIPS": "1"})
    assert strict.returncode == pytest.ExitCode.TESTS_FAILED, strict.stdout
    assert "skipped test files (not allowed)" in strict.stdout
    assert "no_such_module_for_localvoice_tests" in strict.stdout
