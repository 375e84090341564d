"""The protocol-faithful fake GPT-SoVITS server (api_v2 and api.py v1) for tests, and its fixture.

The server itself is ``localvoice.bench.fake_gpt_sovits`` (the bench measures the client against it
too); see its docstring for what it validates and how it streams.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localvoice.bench.fake_gpt_sovits import FakeGptSovits, Spoken, reference_problem, tone, wav_header

__all__ = ["FakeGptSovits", "Spoken", "fake_gpt_sovits_fixture", "reference_problem", "tone", "wav_header"]


@pytest.fixture(name="fake_gpt_sovits")
def fake_gpt_sovits_fixture() -> Iterator[FakeGptSovits]:
    """Import ``fake_gpt_sovits_fixture`` into a test module, then ask for ``fake_gpt_sovits``."""
    with FakeGptSovits() as server:
        yield server
