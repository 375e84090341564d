"""What the terminal shows during a live conversation."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from localvoice.cli.terminal_ui import TerminalUI, UiModel
from localvoice.events import (
    ConversationState,
    Notice,
    ReplyDelta,
    ReplyFinished,
    StateChanged,
    TranscriptReady,
    TurnTimings,
)


def render(model: UiModel) -> str:
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(model.render())
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def test_panel_shows_state_both_sides_and_latency() -> None:
    model = UiModel()
    for event in (
        TranscriptReady(1, "明天天气怎么样？", "zh"),
        StateChanged(ConversationState.SPEAKING),
        ReplyDelta(1, "明天晴，"),
        TurnTimings(1, voice_to_voice_ms=1234.0),
    ):
        model.on_event(event)
    screen = render(model)
    assert "YOU: 明天天气怎么样？" in screen
    assert "AI: 明天晴，" in screen  # the reply streams in as it is written
    assert "speaking" in screen and "1234 ms" in screen


def test_interrupted_reply_is_marked_and_mute_replaces_the_meter() -> None:
    model = UiModel(muted=True)
    model.on_event(ReplyFinished(1, "很长的回答", "很长", interrupted=True))
    screen = render(model)
    assert "AI: 很长 [interrupted]" in screen
    assert "muted" in screen


def test_plain_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    ui = TerminalUI(UiModel(), interactive=False)
    ui(Notice("ollama qwen2.5:3b; speak any time"))
    ui(TranscriptReady(1, "hello", "en"))
    ui(ReplyDelta(1, "Hi"))
    ui(ReplyFinished(1, "Hi there.", "Hi there."))
    ui(TurnTimings(1, voice_to_voice_ms=900.0))
    assert capsys.readouterr().out.splitlines() == [
        "[ollama qwen2.5:3b; speak any time]",
        "YOU: hello",
        "AI: Hi there.",
        "[voice-to-voice 900 ms]",
    ]


def test_keys_reach_the_handler_and_q_quits() -> None:
    ui = TerminalUI(UiModel(), interactive=True)
    pressed: list[str] = []
    ui.on_key = pressed.append
    ui._key("m")
    ui._key(" ")
    assert pressed == ["m", " "] and not ui.quit.is_set()
    ui._key("q")
    assert ui.quit.is_set()
