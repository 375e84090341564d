"""``localvoice bench gpt_sovits``: streaming gets the first audio out long before the whole clip."""

from __future__ import annotations

import pytest

from localvoice.bench import gpt_sovits_stream
from localvoice.config import Config


async def test_streaming_first_audio_beats_the_whole_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpt_sovits_stream, "CLAUSES", ("好的，我来帮你查一下。", "Have a nice walk."))
    result = await gpt_sovits_stream.run_gpt_sovits_stream(Config(), runs=1)
    streaming = result.metrics["streaming_first_audio_ms"]
    whole = result.metrics["whole_clip_first_audio_ms"]
    first_chunk_ms = gpt_sovits_stream.FIRST_CHUNK_S * 1000
    assert first_chunk_ms <= streaming.median < first_chunk_ms + 250, "the first chunk plays as it lands"
    assert whole.min > 2 * first_chunk_ms, "the whole clip waits for the server to finish"
    saved = result.headline["first_audio_saved_ms"]
    assert isinstance(saved, float) and saved > 500
    assert {d["mode"] for d in result.details} == {0, 3}
