"""Tests must not pass by skipping.

Real-model and real-device tests skip when what they need is missing (a model package, espeak-ng,
PulseAudio), which is handy on a laptop and dangerous in CI: a broken set-up would pass green. Under
``CI=true`` or ``LOCALVOICE_STRICT_SKIPS=1`` (``make test`` sets it) every skip is reported as a
failure, unless the test is marked ``@pytest.mark.allow_skip(reason=...)`` because skipping is the
right outcome on some machines (e.g. a test that needs the machine to have no sound card).
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

STRICT_ENV = "LOCALVOICE_STRICT_SKIPS"


def strict_skips() -> bool:
    return os.environ.get(STRICT_ENV, "") == "1" or os.environ.get("CI", "").lower() in ("true", "1")


_STRICT = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_skip(reason): this test may skip even under CI / LOCALVOICE_STRICT_SKIPS=1"
    )
    config.stash[_STRICT] = strict_skips()
    # The switch is pytest's alone: the code under test reads LOCALVOICE_* as config and would
    # reject an unknown one.
    os.environ.pop(STRICT_ENV, None)


def _refusal(what: str, reason: str) -> str:
    return (
        f"{what} was skipped ({reason}), and skips fail under CI=true / {STRICT_ENV}=1: install what it "
        "needs (make setup), or mark it @pytest.mark.allow_skip(reason=...) if skipping is right here"
    )


def _skip_reason(longrepr: object) -> str:
    # A skip's longrepr is (path, line, "Skipped: reason").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.config.stash[_STRICT]
        and item.get_closest_marker("allow_skip") is None
    ):
        report.outcome = "failed"
        report.longrepr = _refusal(item.nodeid, _skip_reason(report.longrepr))
    return report


_SKIPPED_FILES = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module-level ``pytest.importorskip`` skips a whole file at collection: that counts too.

    The file stays "skipped" so the rest of the suite still runs; the session fails at the end.
    """
    report = yield
    if report.skipped and collector.config.stash[_STRICT]:
        refusals = collector.config.stash.setdefault(_SKIPPED_FILES, [])
        refusals.append(_refusal(collector.nodeid, _skip_reason(report.longrepr)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    refusals = config.stash.get(_SKIPPED_FILES, [])
    if refusals:
        terminalreporter.section("skipped test files (not allowed)", red=True)
        for refusal in refusals:
            terminalreporter.line(refusal, red=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.stash.get(_SKIPPED_FILES, []) and exitstatus in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
