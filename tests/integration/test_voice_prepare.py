"""``voice prepare`` on a recording assembled from real speech with known pauses, as a user runs it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from localvoice.voiceclone.label import read_list
from tests.e2e.cli_runner import run_cli

SPEECH = Path(__file__).parents[1] / "fixtures" / "speech" / "bench"
RATE = 16_000
SHORT_PAUSE_S = 0.15  # inside a pair: under min_interval (300 ms), never a cut
LONG_PAUSE_S = 1.2  # between pairs: a cut
PAIRS = [("zh_study", "zh_weekend"), ("zh_dinner", "zh_sleep"), ("zh_weekend", "zh_study")]


def texts() -> dict[str, str]:
    manifest = json.loads((SPEECH / "manifest.json").read_text(encoding="utf-8"))
    return {Path(item["file"]).stem: item["text"] for item in manifest}


def speech(name: str) -> np.ndarray:
    """A fixture with its own leading and trailing silence trimmed, so the pauses are exactly ours."""
    audio, rate = sf.read(SPEECH / f"{name}.wav", dtype="float32")
    assert rate == RATE
    loud = np.flatnonzero(np.abs(audio) > 0.02)
    trimmed: np.ndarray = audio[loud[0] : loud[-1] + 1]
    return trimmed


def recording(path: Path) -> list[tuple[float, float]]:
    """Write the pairs with their pauses; return where each long pause lies (seconds)."""
    parts: list[np.ndarray] = []
    pauses: list[tuple[float, float]] = []
    position = 0
    for number, (a, b) in enumerate(PAIRS):
        if number:
            parts.append(np.zeros(round(LONG_PAUSE_S * RATE), np.float32))
            pauses.append((position / RATE, (position + len(parts[-1])) / RATE))
            position += len(parts[-1])
        pair = np.concatenate([speech(a), np.zeros(round(SHORT_PAUSE_S * RATE), np.float32), speech(b)])
        parts.append(pair)
        position += len(pair)
    sf.write(path, np.concatenate(parts), RATE, subtype="PCM_16")
    return pauses


def cer(said: str, heard: str) -> float:
    """Character error rate, punctuation and spaces ignored."""
    a, b = (re.sub(r"[^\w]", "", s) for s in (said, heard))
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1] / max(1, len(a))


@pytest.mark.slow
def test_prepare_cuts_at_the_pauses_labels_the_clips_and_picks_a_reference(tmp_path: Path) -> None:
    pauses = recording(tmp_path / "talk.wav")
    voices = tmp_path / "voices"
    result = run_cli(
        "voice", "prepare", str(tmp_path / "talk.wav"), "--speaker", "me", "--out", str(tmp_path / "data"),
        "--add-voice", log_dir=tmp_path, env={"LOCALVOICE_TTS_GPT_SOVITS_VOICES_DIR": str(voices)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    entries = read_list(tmp_path / "data" / "me.list")
    assert len(entries) == len(PAIRS), result.stdout
    said = texts()
    for (
        entry,
        (a, b),
    ) in zip(entries, PAIRS, strict=True):
        assert entry.path.is_absolute() and entry.path.is_file()
        assert (entry.speaker, entry.language) == ("me", "ZH")
        assert cer(said[a] + said[b], entry.text) <= 0.25, (said[a] + said[b], entry.text)
        info = sf.info(entry.path)
        assert (info.samplerate, info.channels, info.subtype) == (32_000, 1, "PCM_16")
    # Clip names carry their sample span at 32 kHz, as GPT-SoVITS names them: the cuts are in the pauses.
    spans = [tuple(int(x) / 32_000 for x in entry.path.stem.split("_")[-2:]) for entry in entries]
    for (_, end), (start, _), (pause_start, pause_end) in zip(spans, spans[1:], pauses, strict=False):
        assert pause_start <= end <= pause_end and pause_start <= start <= pause_end
    reference = tmp_path / "data" / "reference.wav"
    assert 3.0 <= sf.info(reference).duration <= 10.0
    reference_text = (tmp_path / "data" / "reference.txt").read_text(encoding="utf-8").strip()
    assert reference_text in [e.text for e in entries]
    assert re.search(r"clips: +3 ", result.stdout) and "reference:" in result.stdout
    listed = run_cli(
        "voice", "list", log_dir=tmp_path, env={"LOCALVOICE_TTS_GPT_SOVITS_VOICES_DIR": str(voices)}
    )
    assert re.search(r"^\* me \(zh", listed.stdout, re.M), listed.stdout


def _silence(path: Path) -> None:
    sf.write(path, np.zeros(5 * RATE, np.int16), RATE)


def _one_second(path: Path) -> None:
    sf.write(path, speech("zh_study")[:RATE], RATE)


def _not_audio(path: Path) -> None:
    path.write_text("这不是音频。\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_silence, "holds no speech"),
        (_one_second, "is 1.0 s long"),
        (_not_audio, "is not a readable audio file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, make: object, message: str) -> None:
    source = tmp_path / "in.wav"
    make(source)  # type: ignore[operator]
    result = run_cli(
        "voice", "prepare", str(source), "--speaker", "me", "--out", str(tmp_path / "o"), log_dir=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "o" / "wavs").exists(), "nothing is written for bad input"
