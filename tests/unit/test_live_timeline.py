"""A scripted live conversation on a virtual clock: the user speaks, listens, and cuts in."""

from __future__ import annotations

from pathlib import Path

from localvoice.audio.echo import NullEchoCanceller
from localvoice.audio.segmenter import Segmenter
from localvoice.audio.sinks import PacedSink
from localvoice.clock import VirtualClock
from localvoice.config import VADConfig
from localvoice.conversation import Conversation
from localvoice.events import ConversationEvent, ReplyFinished, SpeechStarted
from localvoice.live import LiveLoop, LiveSettings
from localvoice.transcript_log import TranscriptLog, read_log
from tests.fakes import AmplitudeVAD, ScriptedASR, ScriptedLLM, TimelineSource, ToneTTS, pieces_every

STORY = "从前有一座山，山里有一座庙。庙里有个老和尚在给小和尚讲故事。讲的是什么呢？" * 2


def build(
    clock: VirtualClock, speech: list[tuple[float, float]], texts: list[str], tmp_path: Path
) -> tuple[LiveLoop, Conversation, PacedSink, ScriptedASR, list[ConversationEvent]]:
    events: list[ConversationEvent] = []
    sink = PacedSink(clock, 16_000)
    llm = ScriptedLLM(clock, pieces_every(0.03, STORY))
    conversation = Conversation(
        llm, ToneTTS(clock, seconds_per_char=0.08), sink, clock, "系统", log=TranscriptLog(tmp_path)
    )
    conversation.subscribe(events.append)
    asr = ScriptedASR(clock, texts)
    vad_config = VADConfig(end_of_turn_ms=500, min_speech_ms=250, pre_roll_ms=300, tentative_pause_ms=200)
    loop = LiveLoop(
        conversation,
        asr,
        TimelineSource(clock, speech, total_s=14.0),
        Segmenter(AmplitudeVAD(), vad_config),
        NullEchoCanceller(),
        clock,
        LiveSettings(min_interrupt_ms=250),
        events.append,
    )
    return loop, conversation, sink, asr, events


async def test_user_cuts_in_and_the_new_turn_is_answered(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop, conversation, sink, _, events = build(
        clock, [(0.5, 2.5), (5.0, 6.5)], ["讲个故事吧", "停，换个话题"], tmp_path
    )
    async with clock.running():
        await loop.run()
        await loop.wait_idle()
    finished = [e for e in events if isinstance(e, ReplyFinished)]
    assert len(finished) == 2
    first, second = finished
    assert first.interrupted and not second.interrupted
    # Playback stopped within 100 ms of the barge-in decision (onset 5.0 s + min_interrupt 0.25 s).
    first_turn_blocks = [b for b in sink.played if b.start_s < 6.0]
    assert first_turn_blocks and first_turn_blocks[-1].start_s <= 5.25 + 0.1
    # History holds the truncated reply, marked as interrupted, then the answered new turn.
    roles = [(m.role, m.interrupted) for m in conversation.history]
    assert roles == [("user", False), ("assistant", True), ("user", False), ("assistant", False)]
    assert STORY.startswith(conversation.history[1].content)
    assert len(conversation.history[1].content) < len(STORY)
    assert conversation.history[2].content == "停，换个话题"
    assert [r["user"] for r in read_log(TranscriptLog(tmp_path).path)] == ["讲个故事吧", "停，换个话题"]
    starts = [e.at_s for e in events if isinstance(e, SpeechStarted)]
    assert starts == [0.5, 5.0] or all(abs(a - b) < 0.05 for a, b in zip(starts, [0.5, 5.0], strict=True))


async def test_short_backchannel_does_not_interrupt(tmp_path: Path) -> None:
    clock = VirtualClock()
    # "嗯" for 0.18 s while the assistant talks: shorter than min_speech_ms / min_interrupt_ms.
    loop, _, sink, _, events = build(clock, [(0.5, 2.0), (4.0, 4.18)], ["讲个故事吧"], tmp_path)
    async with clock.running():
        await loop.run()
        await loop.wait_idle()
    finished = [e for e in events if isinstance(e, ReplyFinished)]
    assert len(finished) == 1 and not finished[0].interrupted
    assert finished[0].heard == STORY
    assert sink.clears == 0


async def test_a_pause_shorter_than_end_of_turn_keeps_one_turn(tmp_path: Path) -> None:
    clock = VirtualClock()
    # A 300 ms pause inside the sentence: tentative pause fires, speech resumes, one turn results.
    loop, conversation, _, asr, events = build(clock, [(0.5, 1.5), (1.8, 3.0)], ["今天天气怎么样"], tmp_path)
    async with clock.running():
        await loop.run()
        await loop.wait_idle()
    finished = [e for e in events if isinstance(e, ReplyFinished)]
    assert len(finished) == 1
    assert conversation.history[0].content == "今天天气怎么样"
    assert asr.heard[-1] >= 2.5, "the whole utterance, both halves, was transcribed"


async def test_language_is_guessed_while_the_user_is_still_talking(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop, conversation, _, asr, _ = build(clock, [(0.5, 3.0)], ["今天天气怎么样"], tmp_path)
    asr.early_language = "zh"
    async with clock.running():
        await loop.run()
        await loop.wait_idle()
    # One early guess, on about the first second of speech, long before the turn ended.
    assert len(asr.languages_detected) == 1
    assert 0.9 <= asr.languages_detected[0] <= 1.2
    assert conversation.history[0].content == "今天天气怎么样"
    assert asr.languages_given == ["zh"], "the transcription used the early guess, no second detection"
