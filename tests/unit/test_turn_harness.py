"""The turn-taking bench's own parts, without models: the scripted microphone speaks on time and only
after what it waits for, and the judge reads logged turns the way the scenarios mean them."""

from __future__ import annotations

import numpy as np
import pytest

from localvoice.bench.turn_microphone import ScriptedMicrophone
from localvoice.bench.turn_scenarios import BY_NAME, SCENARIOS, Say
from localvoice.bench.turn_scoring import HeardTurn, holds, judge
from localvoice.clock import VirtualClock
from localvoice.events import AudioClip, ConversationState, ReplyAudioStarted, StateChanged


def _voice(seconds: float) -> AudioClip:
    t = np.arange(round(seconds * 16_000)) / 16_000
    tone = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    pad = np.zeros(1600, dtype=np.int16)  # 0.1 s of silence each side, as the voices leave it
    return AudioClip(np.concatenate([pad, tone, pad]), 16_000)


async def test_the_microphone_speaks_on_time_and_only_after_what_it_waits_for() -> None:
    steps = [
        Say("zh_ask", "start", 0.5),
        Say("zh_weather_beijing", "after_previous", 0.7),
        Say("zh_stop", "reply_audio", 1.0),
        Say("zh_weather_today", "thinking", 0.2),
    ]
    clips = {"zh_ask": _voice(0.6), "zh_weather_beijing": _voice(1.0), "zh_stop": _voice(0.4)}
    clips["zh_weather_today"] = _voice(0.3)
    clock = VirtualClock()
    mic = ScriptedMicrophone(steps, clips, clock)
    loud_blocks: list[float] = []
    async with clock.running():
        async for block in mic.stream_frames():
            if np.abs(block).max() > 1000:
                loud_blocks.append(clock.now())
            if clock.now() >= 5.0 and not mic.reply_audio_at:
                mic.observe(ReplyAudioStarted(1))
            if clock.now() >= 7.0 and not mic.thinking_at:
                mic.observe(StateChanged(ConversationState.THINKING))
            if clock.now() >= 9.0:
                break
    said = mic.said
    assert all(s is not None for s in said)
    first, second, third, fourth = (s for s in said if s is not None)
    assert first.onset_s == pytest.approx(0.5, abs=0.025)
    assert first.end_s - first.onset_s == pytest.approx(0.6, abs=0.02)
    assert second.onset_s - first.end_s == pytest.approx(0.7, abs=0.025)  # the pause is between speech
    assert third.onset_s == pytest.approx(6.0, abs=0.025)  # 1 s after the reply audio was seen
    assert fourth.onset_s == pytest.approx(7.2, abs=0.025)
    # What the microphone handed out matches what it says it said (blocks arrive 20 ms after capture).
    assert loud_blocks[0] == pytest.approx(first.onset_s + 0.02, abs=0.025)
    assert not [t for t in loud_blocks if first.end_s + 0.05 < t < second.onset_s]
    assert mic.waiting_for() is None


def _turn(turn: int, user: str, answered: bool = True, cut: bool = False) -> HeardTurn:
    return HeardTurn(turn, user, answered, cut)


def test_keywords_accept_the_spellings_whisper_writes() -> None:
    assert holds("What is 2 plus 2?", "en_two")
    assert holds("今天天氣怎麼樣", "zh_weather_today")
    assert not holds("嗯", "zh_mm")  # a backchannel is never expected in a user turn


def test_an_interruption_with_a_pause_joined_into_one_turn_passes() -> None:
    scenario = BY_NAME["zh_interrupt_pause_0.7s"]
    turns = [_turn(1, "给我讲一个很长的故事", cut=True), _turn(2, "停一下。今天天气怎么样?")]
    verdict = judge(scenario, turns)
    assert verdict.ok, verdict.problems
    assert (verdict.premature, verdict.questions_with_pause, verdict.lost) == (0, 1, 0)


def test_halves_answered_one_by_one_are_premature() -> None:
    scenario = BY_NAME["zh_interrupt_pause_0.7s"]
    turns = [_turn(1, "给我讲一个故事", cut=True), _turn(2, "停一下", cut=True), _turn(3, "今天天气怎么样")]
    verdict = judge(scenario, turns)
    assert not verdict.ok and verdict.premature == 1 and verdict.lost == 0
    assert any("half-way" in problem for problem in verdict.problems)


def test_a_question_answered_half_way_loses_its_second_half() -> None:
    scenario = BY_NAME["zh_pause_question_0.6s"]
    verdict = judge(scenario, [_turn(1, "我想问一下。")])
    assert (verdict.premature, verdict.lost, verdict.unanswered) == (1, 1, 1)


def test_a_backchannel_that_cuts_the_reply_is_a_false_barge_in() -> None:
    scenario = BY_NAME["zh_backchannel"]
    assert judge(scenario, [_turn(1, "讲个故事", cut=False)]).false_barge_in is False
    verdict = judge(scenario, [_turn(1, "讲个故事", cut=True)])
    assert verdict.false_barge_in is True and not verdict.ok


def test_a_bare_stop_must_not_be_answered() -> None:
    scenario = BY_NAME["zh_bare_stop"]
    assert judge(scenario, [_turn(1, "故事", cut=True), _turn(2, "停一下", answered=False)]).ok
    verdict = judge(scenario, [_turn(1, "故事", cut=True), _turn(2, "停一下")])
    assert verdict.bare_stop_ok is False and not verdict.ok


def test_voice_to_voice_is_from_the_end_of_the_question_to_the_answer() -> None:
    scenario = BY_NAME["zh_interrupt_pause_0.7s"]
    turns = [
        HeardTurn(1, "故事", True, True, answer_at_s=5.0),
        HeardTurn(2, "停一下，今天天气怎么样", True, False, answer_at_s=12.5),
    ]
    verdict = judge(scenario, turns, [3.0, 8.0, 11.0])
    assert verdict.voice_to_voice == [("idle", 2000.0), ("after_barge_in", 1500.0)]
    assert verdict.late == 2


def test_there_are_at_least_twenty_scenarios_with_unique_names() -> None:
    assert len(SCENARIOS) >= 20 and len(BY_NAME) == len(SCENARIOS)
    for scenario in SCENARIOS:
        assert len(scenario.answered) == len(scenario.interrupted)


def test_a_right_turn_whose_answer_came_too_late_is_late_not_premature() -> None:
    scenario = BY_NAME["zh_pause_question_0.6s"]
    verdict = judge(scenario, [_turn(1, "我想问一下,明天北京的天气怎么样?", answered=False)])
    assert (verdict.premature, verdict.lost, verdict.timed_out) == (0, 0, 1)
    assert not verdict.ok


def test_a_misheard_first_part_is_lost_speech_not_a_cut_off() -> None:
    scenario = BY_NAME["zh_interrupt_pause_0.4s"]
    verdict = judge(scenario, [_turn(1, "故事", cut=True), _turn(2, "填一下,今天天气怎么样?")])
    assert (verdict.premature, verdict.lost) == (0, 1) and not verdict.ok


def test_a_question_split_over_two_logged_turns_is_premature() -> None:
    scenario = BY_NAME["zh_pause_question_0.6s"]
    turns = [_turn(1, "我想问一下", answered=False, cut=True), _turn(2, "明天北京的天气怎么样")]
    verdict = judge(scenario, turns)
    assert verdict.premature == 1 and any("split" in problem for problem in verdict.problems)


def test_the_turn_decision_is_timed_from_the_end_of_the_question() -> None:
    scenario = BY_NAME["zh_plain"]
    verdict = judge(scenario, [HeardTurn(1, "今天天气怎么样", True, False, 9.0, decided_at_s=7.25)], [6.5])
    assert verdict.turn_decided_ms == [750.0] and verdict.voice_to_voice == [("idle", 2500.0)]


def test_a_question_whose_first_words_were_never_heard_is_answered_without_its_beginning() -> None:
    scenario = BY_NAME["en_pause_question_0.6s"]
    verdict = judge(scenario, [_turn(1, "What is 2 plus 2?")])
    assert verdict.problems == [
        "no answered turn holds 'Wait, + what is two plus two?'",
        "answered without its beginning: 'What is 2 plus 2?'",
        "lost: 'Wait,' reached no user turn",
    ]
    assert (verdict.premature, verdict.lost) == (0, 1)


def test_a_misheard_last_word_is_lost_speech_not_an_answer_half_way() -> None:
    scenario = BY_NAME["en_interrupt_pause_0.7s"]
    turns = [
        _turn(1, "Tell me a long story about a brave knight.", cut=True),
        _turn(2, "Stop. What is the capital of friends?"),
    ]
    verdict = judge(scenario, turns)
    assert (verdict.premature, verdict.lost) == (0, 1) and not verdict.ok


async def test_the_echo_reference_is_what_the_sink_played_at_16_khz_with_its_start_time() -> None:
    from localvoice.audio.sinks import PacedSink, PlayedBlock
    from localvoice.bench.turn_microphone import SpeakerReference

    class Recording:
        active = True

        def __init__(self) -> None:
            self.reference: list[tuple[int, float | None]] = []
            self.captured_at: list[float | None] = []

        def push_playback(self, pcm: np.ndarray, at_s: float | None = None) -> None:
            self.reference.append((len(pcm), at_s))

        def process_capture(self, pcm: np.ndarray, at_s: float | None = None) -> np.ndarray:
            self.captured_at.append(at_s)
            return pcm

        def words_audio(self) -> None:
            return None

    canceller = Recording()
    sink = PacedSink(VirtualClock(), 24_000)
    echo = SpeakerReference(canceller, sink)
    sink.played.append(PlayedBlock(0.0, 0, np.ones(480, dtype=np.int16)))
    echo.process_capture(np.zeros(320, dtype=np.int16), 0.0)
    echo.process_capture(np.zeros(320, dtype=np.int16), 0.02)  # nothing new played: nothing pushed twice
    sink.played.append(PlayedBlock(0.023, 0, np.ones(480, dtype=np.int16)))
    echo.process_capture(np.zeros(320, dtype=np.int16), 0.04)
    assert canceller.reference == [(320, 0.0), (320, 0.023)]  # when each block began to play
    assert canceller.captured_at == [0.0, 0.02, 0.04]
