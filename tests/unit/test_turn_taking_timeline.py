"""Turn-taking rules on a virtual clock: pauses inside a question or an interruption, speech that
straddles the start of a reply, bare "stop", backchannels and noise — with slow ASR and a slow LLM.

The fake ASR really listens: each tone frequency in the microphone audio stands for a phrase.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from localvoice.audio.echo import NullEchoCanceller
from localvoice.audio.segmenter import Segmenter
from localvoice.audio.sinks import PacedSink
from localvoice.clock import VirtualClock
from localvoice.config import VADConfig
from localvoice.conversation import Conversation
from localvoice.events import ConversationEvent, ReplyAudioStarted, ReplyFinished, TranscriptReady
from localvoice.live import LiveLoop, LiveSettings
from localvoice.transcript_log import TranscriptLog, read_log
from tests.fakes import (
    AmplitudeVAD,
    ScoringLLM,
    ScriptedLLM,
    TimelineSource,
    ToneTTS,
    ToneWordsASR,
    pieces_every,
)

STORY = "从前有一座山，山里有一座庙。庙里有个老和尚在给小和尚讲故事。讲的是什么呢？" * 3
WORDS = {
    300.0: "讲个故事吧。",
    400.0: "我想问一下，",
    500.0: "明天北京的天气怎么样？",
    600.0: "停一下。",
    700.0: "今天天气怎么样？",
    800.0: "停",
    900.0: "嗯",
    1000.0: "在上海呢？",
    1100.0: "我今天去了。",  # Whisper's full stop, though the words are unfinished
    1200.0: "一个很好玩的地方，你猜是哪里？",
}
NOISE_HZ = 2500.0  # a tone no phrase stands for: the ASR hears nothing in it


@dataclass
class Run:
    loop: LiveLoop
    conversation: Conversation
    sink: PacedSink
    asr: ToneWordsASR
    events: list[ConversationEvent]
    log: TranscriptLog

    def finished(self) -> list[ReplyFinished]:
        return [e for e in self.events if isinstance(e, ReplyFinished) and not e.withdrawn]

    def asked(self) -> list[str]:
        """Every user text a reply was started for (withdrawn ones included)."""
        return [e.text for e in self.events if isinstance(e, TranscriptReady)]

    def logged_users(self) -> list[str]:
        return [r["user"] for r in read_log(self.log.path)]


async def converse(
    tmp_path: Path,
    speech: list[tuple[float, float, float]],
    *,
    asr_delay_s: float = 0.3,
    first_token_s: float = 0.2,
    total_s: float = 16.0,
    llm: ScriptedLLM | None = None,
    end_on_words: bool = True,
) -> Run:
    clock = llm.clock if llm is not None else VirtualClock()
    assert isinstance(clock, VirtualClock)
    events: list[ConversationEvent] = []
    sink = PacedSink(clock, 16_000)
    llm = llm or ScriptedLLM(clock, [(first_token_s, STORY[:2]), *pieces_every(0.03, STORY[2:])])
    log = TranscriptLog(tmp_path)
    conversation = Conversation(llm, ToneTTS(clock, seconds_per_char=0.08), sink, clock, "系统", log=log)
    conversation.subscribe(events.append)
    asr = ToneWordsASR(clock, WORDS, delay_s=asr_delay_s)
    vad = VADConfig(end_of_turn_ms=500, min_speech_ms=250, pre_roll_ms=300, tentative_pause_ms=200)
    loop = LiveLoop(
        conversation,
        asr,
        TimelineSource(clock, speech, total_s=total_s),
        Segmenter(AmplitudeVAD(), vad),
        NullEchoCanceller(),
        clock,
        LiveSettings(min_interrupt_ms=500, end_on_words=end_on_words),
        events.append,
    )
    async with clock.running():
        await loop.run()
        await loop.wait_idle()
    return Run(loop, conversation, sink, asr, events, log)


def first_audio_at(run: Run) -> float:
    return min(b.start_s for b in run.sink.played)


@pytest.mark.parametrize(("asr_delay_s", "first_token_s"), [(0.3, 0.2), (1.0, 1.0)])
async def test_a_question_with_a_pause_is_one_turn(
    tmp_path: Path, asr_delay_s: float, first_token_s: float
) -> None:
    # "我想问一下，" … 0.6 s … "明天北京的天气怎么样？": the comma says more is coming.
    run = await converse(
        tmp_path,
        [(0.5, 1.5, 400.0), (2.1, 4.0, 500.0)],
        asr_delay_s=asr_delay_s,
        first_token_s=first_token_s,
    )
    assert run.asked() == ["我想问一下，明天北京的天气怎么样？"], "answered once, both halves"
    assert run.logged_users() == ["我想问一下，明天北京的天气怎么样？"]
    assert len(run.finished()) == 1


async def test_an_unfinished_phrase_waits_longer_than_a_finished_question(tmp_path: Path) -> None:
    finished = await converse(tmp_path / "a", [(0.5, 1.5, 700.0)])
    unfinished = await converse(tmp_path / "b", [(0.5, 1.5, 400.0)])
    # Both are answered in the end (nobody says more), the unfinished one a second later.
    assert finished.asked() == ["今天天气怎么样？"] and unfinished.asked() == ["我想问一下，"]
    assert first_audio_at(unfinished) - first_audio_at(finished) >= 0.9


async def test_speech_resuming_before_the_first_answer_audio_joins_the_turn(tmp_path: Path) -> None:
    # The straddle: a 1 s ASR and a slow first token; the user goes on after the reply started
    # but before any of it was heard. The reply is withdrawn and the joined text answered once.
    run = await converse(
        tmp_path, [(0.5, 1.5, 700.0), (3.2, 4.2, 1000.0)], asr_delay_s=1.0, first_token_s=1.5
    )
    assert run.asked()[0] == "今天天气怎么样？", "a reply was started after the first half"
    assert run.asked()[-1] == "今天天气怎么样？在上海呢？"
    assert len(run.finished()) == 1
    assert run.logged_users() == ["今天天气怎么样？在上海呢？"], "the withdrawn reply left no trace"
    assert [m.content for m in run.conversation.history if m.role == "user"] == ["今天天气怎么样？在上海呢？"]
    assert all(b.start_s > 4.2 for b in run.sink.played), "nothing played over the user"


@pytest.mark.parametrize(("asr_delay_s", "first_token_s"), [(0.3, 0.2), (1.0, 1.0)])
async def test_an_interruption_with_a_pause_becomes_one_next_turn(
    tmp_path: Path, asr_delay_s: float, first_token_s: float
) -> None:
    # Over a long story: "停一下。" (barge-in by length) … 0.7 s … "今天天气怎么样？".
    run = await converse(
        tmp_path,
        [(0.5, 1.5, 300.0), (5.0, 5.8, 600.0), (6.5, 8.0, 700.0)],
        asr_delay_s=asr_delay_s,
        first_token_s=first_token_s,
    )
    assert run.asked() == ["讲个故事吧。", "停一下。今天天气怎么样？"]
    story, answer = run.finished()
    assert story.interrupted and not answer.interrupted
    assert run.logged_users() == ["讲个故事吧。", "停一下。今天天气怎么样？"]
    # The story stopped at once: 0.5 s into the interruption, not after it.
    assert max(b.start_s for b in run.sink.played if b.start_s < 6.0) <= 5.5 + 0.1


async def test_a_bare_stop_stops_and_listens(tmp_path: Path) -> None:
    # "停" is short (0.35 s, below min_interrupt_ms): its words stop the reply, and nothing is answered.
    run = await converse(tmp_path, [(0.5, 1.5, 300.0), (4.0, 4.35, 800.0)])
    assert run.asked() == ["讲个故事吧。"]
    (story,) = run.finished()
    assert story.interrupted
    # Stopped at the tentative pause (200 ms) plus the ASR (300 ms) after the word, not later.
    assert max(b.start_s for b in run.sink.played) <= 4.35 + 0.2 + 0.3 + 0.1


async def test_a_backchannel_during_the_reply_changes_nothing(tmp_path: Path) -> None:
    # "嗯" for 0.35 s: long enough for the VAD to call it speech, too short to interrupt by length.
    run = await converse(tmp_path, [(0.5, 1.5, 300.0), (4.0, 4.35, 900.0)], total_s=20.0)
    (story,) = run.finished()
    assert not story.interrupted and story.heard == STORY
    assert run.sink.clears == 0
    assert run.asked() == ["讲个故事吧。"]


async def test_a_noise_burst_changes_nothing(tmp_path: Path) -> None:
    during = await converse(tmp_path / "a", [(0.5, 1.5, 300.0), (4.0, 4.3, NOISE_HZ)], total_s=20.0)
    (story,) = during.finished()
    assert not story.interrupted and during.sink.clears == 0
    idle = await converse(tmp_path / "b", [(0.5, 0.8, NOISE_HZ)], total_s=4.0)
    assert idle.asked() == [] and idle.finished() == []


async def test_noise_while_thinking_still_gets_the_question_answered(tmp_path: Path) -> None:
    # A cough after the question, before the answer audio: the reply is withdrawn for it, and since
    # it held no words, the question is answered anyway.
    run = await converse(
        tmp_path, [(0.5, 1.5, 700.0), (2.6, 2.95, NOISE_HZ)], asr_delay_s=0.3, first_token_s=1.5
    )
    assert run.asked()[-1] == "今天天气怎么样？"
    assert run.logged_users() == ["今天天气怎么样？"]
    assert any(isinstance(e, ReplyAudioStarted) for e in run.events)


async def test_a_stop_before_the_answer_cancels_the_question(tmp_path: Path) -> None:
    # The user asks, then says "停" while the assistant is still thinking: nothing is answered.
    run = await converse(
        tmp_path, [(0.5, 1.5, 700.0), (2.6, 2.95, 800.0)], asr_delay_s=0.3, first_token_s=1.5
    )
    assert run.finished() == [] and run.sink.played == []
    assert not run.log.path.exists() or run.logged_users() == []


# ---- the LLM's word on whether the words are finished ----


def scoring_llm(done: dict[str, float], score_delay_s: float = 0.05) -> ScoringLLM:
    clock = VirtualClock()
    pieces = [(0.2, STORY[:2]), *pieces_every(0.03, STORY[2:])]
    return ScoringLLM(clock, pieces, done=done, score_delay_s=score_delay_s)


UNFINISHED_THEN_MORE = [(0.5, 1.5, 1100.0), (2.2, 4.0, 1200.0)]  # 0.7 s pause after "我今天去了。"
JOINED = "我今天去了。一个很好玩的地方，你猜是哪里？"


async def test_words_the_llm_finds_unfinished_wait_for_the_rest(tmp_path: Path) -> None:
    # Whisper's full stop makes "我今天去了。" look finished to the rules; the LLM knows better.
    llm = scoring_llm({"我今天去了。": 0.001})
    run = await converse(tmp_path / "llm", UNFINISHED_THEN_MORE, llm=llm)
    assert run.asked() == [JOINED] and run.logged_users() == [JOINED]
    assert len(run.finished()) == 1
    # Asked at the tentative pause, while the silence was still being confirmed.
    asked_at, text = llm.scored[0]
    assert text == "我今天去了。" and asked_at == pytest.approx(1.5 + 0.2 + 0.3, abs=0.05)
    # Without the LLM the same speech is answered half-way first (the reply then withdrawn).
    rules_only = await converse(tmp_path / "rules", UNFINISHED_THEN_MORE)
    assert rules_only.asked()[0] == "我今天去了。"


async def test_words_the_llm_finds_finished_are_answered_once_it_says_so(tmp_path: Path) -> None:
    question = [(0.5, 2.0, 500.0)]
    llm = scoring_llm({"明天北京的天气怎么样？": 0.96}, score_delay_s=0.05)
    # ASR done 0.1 s after the tentative pause; the verdict 0.05 s later (its pass is also the
    # reply's prefill, so on the real model it costs the reply nothing).
    with_llm = await converse(tmp_path / "a", question, llm=llm, asr_delay_s=0.1)
    without = await converse(tmp_path / "b", question, asr_delay_s=0.1)
    assert with_llm.asked() == without.asked() == ["明天北京的天气怎么样？"]
    assert first_audio_at(with_llm) == pytest.approx(first_audio_at(without) + 0.05, abs=0.02)
    assert len(llm.scored) == 1  # asked once, at the tentative pause


async def test_a_finished_question_is_answered_before_the_full_end_of_turn_silence(tmp_path: Path) -> None:
    question = [(0.5, 2.0, 500.0)]  # "明天北京的天气怎么样？", then silence
    early = await converse(tmp_path / "early", question, asr_delay_s=0.1)
    waiting = await converse(tmp_path / "wait", question, asr_delay_s=0.1, end_on_words=False)
    assert early.asked() == waiting.asked() == ["明天北京的天气怎么样？"]
    # The transcript is in 0.3 s after the speech (0.2 s tentative pause + 0.1 s ASR): the turn
    # ends there instead of after 0.5 s of silence.
    assert first_audio_at(early) == pytest.approx(first_audio_at(waiting) - 0.2, abs=0.03)


async def test_speech_after_a_turn_ended_by_its_words_still_joins_it(tmp_path: Path) -> None:
    # "明天北京的天气怎么样？" ends the turn 0.3 s into the pause; the user goes on 0.4 s after
    # stopping, before any answer audio: one turn, answered once, and nothing of the first reply kept.
    speech = [(0.5, 2.0, 500.0), (2.4, 3.5, 1000.0)]
    run = await converse(tmp_path, speech, asr_delay_s=0.1)
    joined = "明天北京的天气怎么样？在上海呢？"
    assert run.asked() == ["明天北京的天气怎么样？", joined]
    assert [f.withdrawn for f in run.events if isinstance(f, ReplyFinished)] == [True, False]
    assert run.logged_users() == [joined]


async def test_an_unfinished_phrase_nobody_finishes_is_still_answered(tmp_path: Path) -> None:
    run = await converse(tmp_path, [(0.5, 1.5, 1100.0)], llm=scoring_llm({"我今天去了。": 0.001}))
    assert run.asked() == ["我今天去了。"]
    # 1.5 s of silence after the words (the unfinished-phrase wait), then the reply's own start.
    assert 1.5 + 1.5 <= first_audio_at(run) <= 1.5 + 1.5 + 0.8


async def test_a_slow_verdict_leaves_the_decision_to_the_rules(tmp_path: Path) -> None:
    slow = scoring_llm({"今天天气怎么样？": 0.001}, score_delay_s=5.0)
    run = await converse(tmp_path / "slow", [(0.5, 1.5, 700.0)], llm=slow)
    fast = await converse(tmp_path / "plain", [(0.5, 1.5, 700.0)])
    assert run.asked() == ["今天天气怎么样？"]
    # Waited at most end_of_turn_wait_ms (1 s) for the model, then answered as the rules say.
    assert first_audio_at(run) - first_audio_at(fast) <= 1.0 + 0.05


async def test_the_rules_spare_the_llm_when_the_words_already_say_more_is_coming(tmp_path: Path) -> None:
    llm = scoring_llm({})
    await converse(tmp_path, [(0.5, 1.5, 400.0), (2.1, 4.0, 500.0)], llm=llm)
    assert [text for _, text in llm.scored] == ["我想问一下，明天北京的天气怎么样？"]


async def test_the_llm_reads_the_prompt_while_the_user_is_still_talking(tmp_path: Path) -> None:
    llm = scoring_llm({})
    await converse(tmp_path, [(0.5, 2.0, 500.0)], llm=llm)
    # Once, as speech started (onset 0.5 s, confirmed after vad.min_speech_ms): system + time line.
    assert len(llm.prefilled) == 1
    at, messages = llm.prefilled[0]
    assert 0.5 <= at <= 1.0 and messages >= 1
    assert llm.scored and llm.scored[0][0] > at


async def test_speech_begun_just_before_the_first_answer_audio_joins_the_turn(tmp_path: Path) -> None:
    # The VAD confirms speech only after vad.min_speech_ms (250 ms): words begun 0.1 s before the
    # answer's first audio are confirmed after it started. They still continue the same turn.
    alone = await converse(tmp_path / "alone", [(0.5, 1.5, 700.0)])
    first_audio = first_audio_at(alone)
    run = await converse(
        tmp_path / "both", [(0.5, 1.5, 700.0), (first_audio - 0.1, first_audio + 1.5, 1000.0)]
    )
    assert run.asked()[-1] == "今天天气怎么样？在上海呢？"
    assert run.logged_users() == ["今天天气怎么样？在上海呢？"], "the first answer left no trace"
    # Words begun after the first audio are barge-in: the answer is kept as heard, a new turn follows.
    later = await converse(
        tmp_path / "later", [(0.5, 1.5, 700.0), (first_audio + 0.3, first_audio + 1.9, 1000.0)]
    )
    assert later.logged_users() == ["今天天气怎么样？", "在上海呢？"]
