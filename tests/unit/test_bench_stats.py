"""Statistics and report helpers of ``localvoice bench``: known data in, known numbers and shapes out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from localvoice.bench.report import combined, markdown, write_outputs
from localvoice.bench.result import ScenarioResult
from localvoice.bench.speech_bounds import speech_bounds
from localvoice.bench.stats import percentile, ratio, summarize
from localvoice.events import AudioClip


def test_summary_of_one_to_ten() -> None:
    summary = summarize([float(v) for v in range(10, 0, -1)])
    assert summary.n == 10
    assert summary.median == 5.5
    assert summary.p90 == pytest.approx(9.1)  # linear interpolation between the 9th and 10th values
    assert (summary.min, summary.max) == (1.0, 10.0)
    assert summary.mean == 5.5
    assert summary.stdev == pytest.approx(3.02765, abs=1e-5)


def test_summary_of_odd_count_and_single_sample() -> None:
    assert summarize([3.0, 1.0, 2.0]).median == 2.0
    single = summarize([7.0])
    assert (single.median, single.p90, single.stdev) == (7.0, 7.0, 0.0)


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        percentile([], 90)


def test_ratio_refuses_a_zero_denominator() -> None:
    assert ratio(300.0, 100.0) == 3.0
    assert ratio(1.0, 0.0) is None


def _result() -> ScenarioResult:
    result = ScenarioResult("stages", "Stages")
    result.add("voice_to_voice_ms", [900.0, 1000.0, 1100.0, 1500.0], "voice-to-voice", 1200.0)
    result.add("asr_ms", [], "ASR")  # a stage that never happened: noted, not summarized
    result.headline = {"voice_to_voice_median_ms": 1050.0}
    return result


def test_json_has_summaries_headline_and_notes() -> None:
    data = combined([_result()])
    stages = data["stages"]
    assert set(stages["voice_to_voice_ms"]) >= {"median", "p90", "min", "max", "n"}
    assert stages["voice_to_voice_ms"]["median"] == 1050.0
    assert stages["voice_to_voice_ms"]["max"] == 1500.0
    assert stages["voice_to_voice_median_ms"] == 1050.0
    assert "asr_ms" not in stages and stages["notes"] == ["no samples for asr_ms"]
    json.dumps(data)  # serializable as is


def test_markdown_says_whether_the_target_was_met() -> None:
    text = markdown(_result(), "localvoice bench stages --runs 1")
    assert "`localvoice bench stages --runs 1`" in text
    assert "| voice-to-voice (`voice_to_voice_ms`) | 4 | 1,050 |" in text
    assert "(met)" in text


def test_outputs_are_written(tmp_path: Path) -> None:
    written = write_outputs(_result(), tmp_path)
    names = {path.name for path in written}
    assert {"stages.json", "stages.md"} <= names
    assert json.loads((tmp_path / "stages.json").read_text())["voice_to_voice_ms"]["n"] == 4
    if "stages.png" in names:  # matplotlib is the optional `bench` extra
        assert (tmp_path / "stages.png").read_bytes()[:4] == b"\x89PNG"


def test_speech_bounds_find_the_tone_between_silences() -> None:
    rate = 16_000
    t = np.arange(rate) / rate
    tone = (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    samples = np.concatenate([np.zeros(rate // 4, np.int16), tone, np.zeros(rate // 2, np.int16)])
    onset_s, end_s = speech_bounds(AudioClip(samples, rate))
    assert onset_s == pytest.approx(0.25, abs=0.011)
    assert end_s == pytest.approx(1.25, abs=0.011)
    with pytest.raises(ValueError):
        speech_bounds(AudioClip(np.zeros(rate, np.int16), rate))


async def test_paced_source_delivers_blocks_on_the_clock_with_silence_around() -> None:
    from localvoice.audio.paced_source import PacedFileSource
    from localvoice.clock import VirtualClock

    clock = VirtualClock(start_s=10.0)
    clip = AudioClip(np.full(1600, 1000, np.int16), 16_000)  # 100 ms of "speech"
    source = PacedFileSource(clip, clock, block_ms=20, leading_silence_s=0.04, trailing_silence_s=0.06)
    arrivals: list[tuple[float, int, int]] = []
    async with clock.running():
        async for block in source.stream_frames():
            arrivals.append((clock.now(), len(block), int(np.abs(block).max())))
    assert len(arrivals) == 10  # 40 + 100 + 60 ms in 20 ms blocks
    assert [round(at - 10.0, 3) for at, _, _ in arrivals] == [round(0.02 * (k + 1), 3) for k in range(10)]
    assert [loud for _, _, loud in arrivals] == [0, 0, 1000, 1000, 1000, 1000, 1000, 0, 0, 0]
    assert source.clip_time(0.0) == pytest.approx(10.04)


def test_paced_source_refuses_audio_at_another_rate() -> None:
    from localvoice.audio.paced_source import PacedFileSource
    from localvoice.clock import MonotonicClock
    from localvoice.errors import BadInputError

    with pytest.raises(BadInputError, match="16000 Hz mono int16"):
        PacedFileSource(AudioClip(np.zeros(100, np.int16), 24_000), MonotonicClock())
