"""The voice page in a real browser: Debian's Chromium driven by Playwright, its fake microphone fed a
spoken question, against the real app and models. The page must show the question and the answer
and play the answer's audio; its resampler must match an offline render; a screenshot is kept."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localvoice.persona import store
from tests.server_fixtures import RunningServer, running_server, server_config

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/lib/chromium/chromium")
SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"
TOKEN = "page-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    logs = tmp_path_factory.mktemp("page-logs")
    config = server_config(logs)
    config.llm.model = "qwen2.5-coder-0.5b"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(logs / "data"))  # one stored persona for the picker
        store.save(
            "cat", 'FROM qwen2.5-coder-0.5b\nSYSTEM """Start with 喵。"""\n', "qwen2.5-coder-0.5b", False
        )
        config.tts.gpt_sovits.voices_dir = str(logs / "voices")  # no voices: that picker stays hidden
        with running_server(config, token=TOKEN) as running:
            yield running


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The question as Chromium's fake capture wants it: 16-bit PCM, 48 kHz, with room around it."""
    wav = tmp_path_factory.mktemp("mic") / "question.wav"
    subprocess.run(
        ["sox", str(SPEECH / "question_en.wav"), "-r", "48000", "-c", "1", "-b", "16", "-e", "signed-integer",
         str(wav), "pad", "2.0", "6.0"],
        check=True,
    )  # fmt: skip
    return wav


def _flags(microphone: Path, autoplay: str) -> list[str]:
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}%noloop",
        f"--autoplay-policy={autoplay}",
        "--disable-gpu",
        "--disable-quic",
    ]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Any, microphone: Path) -> Iterator[Any]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=_flags(microphone, "no-user-gesture-required")
    )
    yield browser
    browser.close()


def _wait_for(page: Any, expression: str, timeout_s: float) -> None:
    page.wait_for_function(expression, timeout=timeout_s * 1000, polling=250)


def test_the_page_hears_the_question_shows_both_sides_and_plays_the_answer(
    server: RunningServer, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/?token={TOKEN}")
    _wait_for(page, "window.lvStats.hello !== null && window.lvStats.micFrames > 0", 60)
    assert page.locator("#connection").inner_text() == "已连接"  # Chinese UI for a zh-CN browser
    _wait_for(page, "window.lvStats.replies.length > 0", 240)
    # The whole reply plays out: every scheduled buffer ended, and the output was not silent.
    _wait_for(page, "window.lvStats.ended > 0 && window.lvStats.ended === window.lvStats.scheduled", 120)
    stats = page.evaluate("window.lvStats")
    user = page.locator(".turn.user").first.inner_text()
    answer = page.locator(".turn.assistant").first.inner_text()
    screenshot = tmp_path / "voice-page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, ARTIFACTS / "voice-page.png")
    print(f"screenshot: {ARTIFACTS / 'voice-page.png'}")
    print(f"user: {user!r}; answer: {answer!r}; stats: { {k: v for k, v in stats.items() if k != 'events'} }")

    assert not errors, errors
    assert "capital" in user.lower() and "france" in user.lower()
    reply = stats["replies"][0]
    assert reply["written"] and not reply["interrupted"]
    assert reply["heard"].split()[0] in answer
    assert "语音到语音" in answer  # the per-turn latency line, in Chinese
    assert stats["samplesPlayed"] == stats["samplesReceived"] > 24_000  # over a second at 24 kHz, all heard
    assert stats["outputPeak"] > 0.02  # the analyser after the scheduled buffers saw the voice
    assert stats["micRate"] in (44_100, 48_000)
    page.locator("#lang").click()
    assert page.locator("#stop").inner_text() == "Interrupt"
    context.close()


@pytest.mark.parametrize("rate_hz", [48_000, 44_100])
def test_the_worklet_resampler_matches_an_offline_render(
    server: RunningServer, browser: Any, rate_hz: int
) -> None:
    """Two tones through the worklet in an OfflineAudioContext, against the ideal 16 kHz samples.

    A rate error of 0.15 % would shift the 3 kHz tone by whole cycles within the 2 s and ruin the
    match; so would aliasing or a wrong gain.
    """
    page = browser.new_page()
    page.goto(f"{server.url}/?token={TOKEN}")
    tones = [(440.0, 0.3), (3000.0, 0.3)]
    seconds = 2.0
    started = time.monotonic()
    out = np.asarray(
        page.evaluate("([r, s, t]) => window.lvResamplerCheck(r, s, t)", [rate_hz, seconds, tones])
    )
    page.close()
    expected_len = int(seconds * 16_000) // 320 * 320
    assert abs(len(out) - expected_len) <= 320, (len(out), expected_len)
    k = np.arange(len(out))
    ideal = np.zeros(len(out))
    for hz, amplitude in tones:
        ideal += amplitude * 32767 * np.sin(2 * np.pi * hz * k / 16_000)
    body = slice(100, len(out) - 100)  # away from the zero history at the start
    noise = out[body] - ideal[body]
    snr_db = 10 * np.log10(np.mean(ideal[body] ** 2) / np.mean(noise**2))
    print(
        f"{rate_hz} Hz → 16 kHz: {len(out)} samples, SNR {snr_db:.1f} dB ({time.monotonic() - started:.1f} s)"
    )
    assert snr_db > 40


def test_typed_text_is_answered_and_the_interrupt_button_stops_playback_at_once(
    server: RunningServer, browser: Any
) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/?token={TOKEN}")
    _wait_for(page, "window.lvStats.hello !== null", 60)
    page.locator("#handsfree").uncheck()  # the fake microphone's question must not join in
    page.locator("#text").fill("Tell me a long story about a cat who learns to sail, in six sentences.")
    page.locator("#typing button").click()
    # A second and a half of the answer has played, and more is still queued in the page.
    _wait_for(
        page,
        "window.lvStats.samplesPlayed >= 36000 && window.lvStats.scheduled > window.lvStats.ended",
        240,
    )
    page.locator("#stop").click()
    _wait_for(page, "window.lvStats.clears === 1", 10)
    playing = page.evaluate(
        "() => { const n = window.lvStats.ended; return new Promise(r => setTimeout(() => r([n, window.lvStats.ended]), 500)); }"
    )
    _wait_for(page, "window.lvStats.replies.length === 1", 30)
    reply = page.evaluate("window.lvStats.replies[0]")
    cut = page.locator(".turn.assistant .unheard").first.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "voice-page-interrupted.png"), full_page=True)
    print(f"screenshot: {ARTIFACTS / 'voice-page-interrupted.png'}")
    context.close()
    assert not errors, errors
    assert playing[0] == playing[1]  # no buffer played out after the clear: all were stopped
    assert reply["interrupted"] and reply["heard"] and len(reply["heard"]) < len(reply["written"])
    assert cut and reply["written"].endswith(cut)  # the page strikes out what was never heard


def test_the_persona_picker_shows_stored_personas_and_switches(server: RunningServer, browser: Any) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{server.url}/?token={TOKEN}")
    _wait_for(page, "window.lvStats.choices !== undefined", 60)
    options = page.locator("#persona option").all_inner_texts()
    voice_hidden = page.locator("#voice-box").is_hidden()
    persona_visible = page.locator("#persona-box").is_visible()
    page.locator("#persona").select_option("cat")
    _wait_for(page, "window.lvStats.choices.persona === 'cat' && window.lvStats.choices.restarted", 30)
    context.close()
    assert persona_visible and options == ["Default", "cat"]
    assert voice_hidden  # no stored voices: nothing to choose


def test_the_page_reconnects_with_a_new_session_after_the_socket_drops(
    server: RunningServer, browser: Any
) -> None:
    page = browser.new_page()
    page.goto(f"{server.url}/?token={TOKEN}")
    _wait_for(page, "window.lvStats.hello !== null", 60)
    first = page.evaluate("window.lvStats.hello.session")
    page.evaluate("socket.close(4000, 'test')")  # the network drops, as far as the page can tell
    _wait_for(page, f"window.lvStats.hello.session !== {first!r}", 30)
    assert page.locator("#connection").get_attribute("data-state") == "open"
    page.close()


def test_the_page_loads_and_connects_in_firefox(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Playwright cannot drive Debian's Firefox, but Firefox itself can load the page headless and
    # screenshot it: the page's script runs and opens its WebSocket, which the server sees.
    from localvoice.server import voice_socket
    from localvoice.server.security import check_websocket as check

    agents: list[tuple[str, bool]] = []  # (User-Agent, let in)

    def recording(websocket: Any, state: Any) -> bool:
        accepted = check(websocket, state)
        agents.append((websocket.headers.get("user-agent", ""), accepted))
        return accepted

    monkeypatch.setattr(voice_socket, "check_websocket", recording)
    (tmp_path / "home").mkdir()
    shot = tmp_path / "firefox.png"
    done = subprocess.run(
        ["firefox-esr", "--headless", "--window-size=1280,720", "--screenshot", str(shot), f"{server.url}/?token={TOKEN}"],
        env={"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert shot.is_file() and shot.stat().st_size > 10_000, "Firefox drew the page"
    assert any("Firefox/" in agent and accepted for agent, accepted in agents), f"sockets: {agents}"
    artifacts = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, artifacts / "voice-page-firefox.png")
