"""GptSovitsTTS against the protocol-faithful fake api_v2 server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from localvoice.assemble import build_tts
from localvoice.audio.sinks import CollectingSink, PacedSink
from localvoice.backends.tts.fallback import FallbackTTS
from localvoice.backends.tts.gpt_sovits import GptSovitsTTS, clause_language, refusal
from localvoice.backends.tts.whole_clip import WholeClipTTS
from localvoice.clock import MonotonicClock
from localvoice.config import Config, GptSovitsConfig
from localvoice.errors import BackendError, ConfigError
from localvoice.events import AudioClip, Message
from localvoice.protocols import TTS
from localvoice.reply import ReplyPipeline, ReplySettings
from localvoice.voiceclone.voices import Voice, VoiceStore
from tests.fake_gpt_sovits import FakeGptSovits, fake_gpt_sovits_fixture, tone
from tests.fake_ollama import unused_local_url
from tests.fakes import ScriptedLLM

__all__ = ["fake_gpt_sovits_fixture"]

SPEECH = Path(__file__).parents[1] / "fixtures" / "speech" / "bench"
REPLY = "好的，我来帮你查一下。明天北京晴，最高气温二十五度。适合出去走走，记得带水。"
MESSAGES = [Message("user", "明天天气怎么样？")]


def reference(tmp_path: Path, seconds: float | None = None) -> Path:
    """Two of the project's own Mandarin clips with a pause between: a 4.6 s reference."""
    a, rate = sf.read(SPEECH / "zh_study.wav", dtype="int16")
    b, _ = sf.read(SPEECH / "zh_weekend.wav", dtype="int16")
    audio = np.concatenate([a, np.zeros(rate // 4, np.int16), b])
    if seconds is not None:
        audio = np.resize(audio, round(seconds * rate))
    path = tmp_path / f"ref_{seconds}.wav"
    sf.write(path, audio, rate, subtype="PCM_16")
    return path


def add_voice(tmp_path: Path, config: GptSovitsConfig, **extra: str) -> Voice:
    config.voices_dir = str(tmp_path / "voices")
    voice = Voice("me", "", "怎样才能更专心地学习？周末在家可以做些什么？", "zh", **extra)  # type: ignore[arg-type]
    store = VoiceStore.from_config(config)
    stored = store.add(voice, reference(tmp_path))
    store.use("me")
    return stored


def make_tts(tmp_path: Path, server: FakeGptSovits, **settings: object) -> GptSovitsTTS:
    config = GptSovitsConfig(url=server.url)
    for key, value in settings.items():
        setattr(config, key, value)
    return GptSovitsTTS(config, add_voice(tmp_path, config))


class TimedSink(CollectingSink):
    """Collects at once and remembers when each chunk arrived (monotonic seconds)."""

    def __init__(self, rate_hz: int) -> None:
        super().__init__(rate_hz)
        self.arrivals: list[float] = []

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        self.arrivals.append(time.monotonic())
        return super().enqueue(clip)


@pytest.mark.parametrize("rate_hz", [32_000, 24_000])
async def test_a_clause_streams_in_chunks_at_the_servers_rate_and_comes_out_exact(
    tmp_path: Path, rate_hz: int
) -> None:
    with FakeGptSovits(sample_rate_hz=rate_hz) as server:
        tts = make_tts(tmp_path, server, top_k=5, temperature=0.7, speed_factor=1.1)
        text = "明天北京晴，最高气温二十五度。"
        chunks = [chunk async for chunk in tts.stream_synthesize(text)]
        await tts.aclose()
    assert len(chunks) > 3, "a streamed clause comes as many chunks"
    assert {c.sample_rate_hz for c in chunks} == {rate_hz}
    expected = tone(text, len(text) * server.seconds_per_char, rate_hz)
    assert np.array_equal(np.concatenate([c.samples for c in chunks]), expected)
    body = server.tts_bodies()[0]
    assert body["text"] == text and body["text_lang"] == "zh" and body["prompt_lang"] == "zh"
    assert body["text_split_method"] == "cut0" and body["streaming_mode"] == 3
    assert body["media_type"] == "wav"
    assert body["prompt_text"] == "怎样才能更专心地学习？周末在家可以做些什么？"
    assert Path(body["ref_audio_path"]).is_file() and str(tmp_path / "voices") in body["ref_audio_path"]
    assert (body["top_k"], body["temperature"], body["speed_factor"]) == (5, 0.7, 1.1)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("今天天气很好。", "zh"),
        ("What a nice day.", "en"),
        ("我用Google Maps找路。", "zh"),  # mixed zh/en goes as zh
        ("OK, let's go 吧", "zh"),
        ("こんにちは、元気ですか。", "ja"),
        ("안녕하세요.", "ko"),
    ],
)
def test_text_lang_follows_the_clauses_script(text: str, lang: str) -> None:
    assert clause_language(text) == lang
    assert clause_language("今天天气很好。", chinese="yue") == "yue"


async def test_the_fake_validates_like_the_real_server(
    tmp_path: Path, fake_gpt_sovits: FakeGptSovits
) -> None:
    ref = str(reference(tmp_path))
    good = {"text": "你好", "text_lang": "zh", "ref_audio_path": ref, "prompt_lang": "zh", "prompt_text": "x"}
    async with httpx.AsyncClient(base_url=fake_gpt_sovits.url) as client:
        missing = await client.post("/tts", json={k: v for k, v in good.items() if k != "text_lang"})
        bad_mode = await client.post("/tts", json={**good, "streaming_mode": 7})
        short = await client.post("/tts", json={**good, "ref_audio_path": str(reference(tmp_path, 2.0))})
        long = await client.post("/tts", json={**good, "ref_audio_path": str(reference(tmp_path, 11.0))})
        ok = await client.post("/tts", json=good)
    assert (missing.status_code, missing.json()) == (400, {"message": "text_lang is required"})
    assert bad_mode.status_code == 400
    for response in (short, long):
        assert response.status_code == 400 and response.json()["message"] == "tts failed"
    assert ok.status_code == 200 and ok.content[:4] == b"RIFF"


async def test_a_server_error_is_one_clear_line(tmp_path: Path, fake_gpt_sovits: FakeGptSovits) -> None:
    tts = make_tts(tmp_path, fake_gpt_sovits)
    fake_gpt_sovits.fail_tts = "CUDA out of memory.\nTried to allocate 2 GiB"
    with pytest.raises(BackendError) as caught:
        await tts.synthesize("你好。")
    await tts.aclose()
    assert str(caught.value) == (
        "GPT-SoVITS could not speak the clause: tts failed: CUDA out of memory. Tried to allocate 2 GiB"
    )


def test_a_bad_streaming_mode_in_the_config_is_refused_before_any_request(tmp_path: Path) -> None:
    config = GptSovitsConfig(streaming_mode=5)
    with pytest.raises(ConfigError, match="streaming_mode must be 0, 1, 2 or 3"):
        GptSovitsTTS(config, add_voice(tmp_path, config))


async def test_trained_weights_are_loaded_once_and_a_bad_path_is_one_line(
    tmp_path: Path, fake_gpt_sovits: FakeGptSovits
) -> None:
    gpt, sovits = tmp_path / "me-e15.ckpt", tmp_path / "me_e8_s200.pth"
    gpt.write_bytes(b"x")
    sovits.write_bytes(b"x")
    config = GptSovitsConfig(url=fake_gpt_sovits.url)
    tts = GptSovitsTTS(config, add_voice(tmp_path, config, gpt_weights=str(gpt), sovits_weights=str(sovits)))
    await tts.warm_up()
    await tts.synthesize("你好。")
    await tts.aclose()
    assert (fake_gpt_sovits.gpt_weights, fake_gpt_sovits.sovits_weights) == (str(gpt), str(sovits))
    paths = [path for _, path, _ in fake_gpt_sovits.requests]
    assert paths.count("/set_gpt_weights") == 1 and paths.count("/set_sovits_weights") == 1

    bad = GptSovitsTTS(config, Voice("x", tts.voice.ref_audio, "你好", gpt_weights="/nowhere/x.ckpt"))
    with pytest.raises(BackendError) as caught:
        await bad.warm_up()
    await bad.aclose()
    assert "\n" not in str(caught.value)
    assert "could not load the GPT weights /nowhere/x.ckpt: change gpt weight failed" in str(caught.value)


async def test_the_v1_api_is_spoken_through_its_own_route(
    tmp_path: Path, fake_gpt_sovits: FakeGptSovits
) -> None:
    tts = make_tts(tmp_path, fake_gpt_sovits, api="v1")
    clip = await tts.synthesize("What a nice day.")
    await tts.aclose()
    assert len(clip.samples) > 0
    body = fake_gpt_sovits.tts_bodies()[0]
    assert body["refer_wav_path"] == tts.voice.ref_audio and body["text_language"] == "en"
    assert body["prompt_language"] == "zh" and body["speed"] == 1.0


async def test_the_v1_api_loads_trained_weights_with_set_model(
    tmp_path: Path, fake_gpt_sovits: FakeGptSovits
) -> None:
    config = GptSovitsConfig(url=fake_gpt_sovits.url, api="v1")
    tts = GptSovitsTTS(
        config, add_voice(tmp_path, config, gpt_weights="/w/me.ckpt", sovits_weights="/w/me.pth")
    )
    await tts.synthesize("你好。")
    await tts.aclose()
    assert (fake_gpt_sovits.gpt_weights, fake_gpt_sovits.sovits_weights) == ("/w/me.ckpt", "/w/me.pth")
    assert [path for _, path, _ in fake_gpt_sovits.requests] == ["/set_model", "/"]


async def test_first_audio_reaches_the_sink_before_the_server_finishes_the_clause(
    tmp_path: Path, fake_gpt_sovits: FakeGptSovits
) -> None:
    fake_gpt_sovits.first_chunk_delay_s = 0.1
    fake_gpt_sovits.chunk_delay_s = 0.02  # a piece (~15 ms of audio) every 20 ms: ~1.8 s a clause
    tts = make_tts(tmp_path, fake_gpt_sovits)
    clock = MonotonicClock()
    sink = TimedSink(32_000)
    llm = ScriptedLLM(clock, [(0.0, "好的，我来帮你查一下。")])
    pipeline = ReplyPipeline(
        llm, tts, sink, clock, lambda event: None, ReplySettings(first_clause_min_chars=2)
    )
    finished = await pipeline.run(1, MESSAGES)
    await tts.aclose()
    first_clause = fake_gpt_sovits.spoken[0]
    assert first_clause.finished_s is not None
    assert sink.arrivals[0] < first_clause.finished_s - 0.5, "the first chunk played long before the end"
    assert finished.heard == "好的，我来帮你查一下。"


async def test_barge_in_mid_chunk_keeps_the_heard_text_exact(
    tmp_path: Path, fake_gpt_sovits: FakeGptSovits
) -> None:
    tts = make_tts(tmp_path, fake_gpt_sovits)  # the fake is fast: the clause is all there when cut
    clock = MonotonicClock()
    sink = PacedSink(clock, 32_000)
    llm = ScriptedLLM(clock, [(0.0, REPLY)])
    pipeline = ReplyPipeline(
        llm, tts, sink, clock, lambda event: None, ReplySettings(first_clause_min_chars=2)
    )
    reply = asyncio.create_task(pipeline.run(1, MESSAGES))
    while not sink.played:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.27)  # mid-way through a piece of the first clause
    pipeline.interrupt()
    finished = await reply
    await sink.aclose()
    await tts.aclose()
    first = fake_gpt_sovits.spoken[0].text
    played = len(sink.played_audio().samples)
    total = len(tone(first, len(first) * fake_gpt_sovits.seconds_per_char, 32_000))
    assert 0 < played < total
    assert finished.interrupted
    assert finished.heard == first[: round(len(first) * played / total)].strip()


class NoteTTS(WholeClipTTS):
    """The stand-in for the packaged voice: a 24 kHz tone, and a record of what it said."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def synthesize(self, text: str) -> AudioClip:
        self.said.append(text)
        return AudioClip(tone(text, 0.05 * len(text), 24_000), 24_000)


async def test_server_killed_mid_reply_the_packaged_voice_speaks_the_rest(tmp_path: Path) -> None:
    notices: list[str] = []
    packaged = NoteTTS()
    with FakeGptSovits() as server:
        server.chunk_delay_s = 0.01
        tts: TTS = FallbackTTS(make_tts(tmp_path, server), lambda: packaged, notices.append)
        sink = CollectingSink(24_000)
        clock = MonotonicClock()
        llm = ScriptedLLM(clock, [(0.0, REPLY[:11]), (0.3, REPLY[11:])])
        pipeline = ReplyPipeline(llm, tts, sink, clock, lambda event: None, ReplySettings(max_concurrency=1))
        first = pipeline.run(1, MESSAGES)
        server.die_after_pieces = None
        task = asyncio.create_task(first)
        while not server.spoken:
            await asyncio.sleep(0.01)
        server.die_after_pieces = 3  # the next clause dies three pieces in
        finished = await task
        await tts.aclose()
    cloned = [s.text for s in server.spoken if s.finished_s is not None]
    assert cloned == ["好的，我来帮你查一下。"], "the first clause was spoken by the cloned voice"
    assert packaged.said and packaged.said[0] == "明天北京晴，最高气温二十五度。", (
        "the cut clause, again, whole"
    )
    assert packaged.said[-1] == "适合出去走走，记得带水。"
    assert len(notices) == 1 and "GPT-SoVITS" in notices[0] and "packaged voice" in notices[0]
    assert finished.error is None and finished.heard == REPLY, "history keeps the whole reply"


def test_server_down_at_start_one_notice_and_the_packaged_voice(tmp_path: Path) -> None:
    config = Config()
    config.tts.backend = "gpt_sovits"
    config.tts.gpt_sovits.url = unused_local_url()
    add_voice(tmp_path, config.tts.gpt_sovits)
    notices: list[str] = []
    tts = build_tts(config, notices.append)
    assert isinstance(tts, FallbackTTS) and not tts.primary_up
    assert sum("not reachable" in n and "packaged voice" in n for n in notices) == 1


def test_gpt_sovits_without_a_voice_says_how_to_add_one(tmp_path: Path) -> None:
    config = Config()
    config.tts.backend = "gpt_sovits"
    config.tts.gpt_sovits.voices_dir = str(tmp_path / "none")
    with pytest.raises(ConfigError, match="localvoice voice add"):
        build_tts(config, lambda notice: None)


def test_auto_picks_gpt_sovits_when_a_voice_is_chosen_and_the_server_answers(
    tmp_path: Path, fake_gpt_sovits: FakeGptSovits
) -> None:
    config = Config()
    config.tts.gpt_sovits.url = fake_gpt_sovits.url
    add_voice(tmp_path, config.tts.gpt_sovits)
    tts = build_tts(config, lambda notice: None)
    assert isinstance(tts, FallbackTTS) and isinstance(tts.primary, GptSovitsTTS)
    fake_gpt_sovits.kill()
    notices: list[str] = []
    assert not isinstance(build_tts(config, notices.append), FallbackTTS)
    assert any("your voice 'me' needs GPT-SoVITS" in n for n in notices)


async def test_a_dead_server_is_retried_after_retry_s(tmp_path: Path) -> None:
    now = [0.0]
    packaged = NoteTTS()
    notices: list[str] = []
    with FakeGptSovits() as server:
        primary = make_tts(tmp_path, server)
        tts = FallbackTTS(
            primary, lambda: packaged, notices.append, retry_s=30, down_reason="down", now=lambda: now[0]
        )
        await tts.synthesize("你好。")
        assert packaged.said == ["你好。"] and not server.spoken
        now[0] = 31.0
        await tts.synthesize("你好。")
        await tts.aclose()
    assert len(server.spoken) == 1 and notices == ["GPT-SoVITS answers again: your voice is back."]


async def test_clauses_go_to_the_server_one_at_a_time(tmp_path: Path, fake_gpt_sovits: FakeGptSovits) -> None:
    fake_gpt_sovits.first_chunk_delay_s = 0.05
    tts = make_tts(tmp_path, fake_gpt_sovits)
    await asyncio.gather(
        tts.synthesize("第一句话。"), tts.synthesize("第二句话。"), tts.synthesize("第三句话。")
    )
    await tts.aclose()
    spans = sorted((s.started_s, s.finished_s or 0.0) for s in fake_gpt_sovits.spoken)
    assert len(spans) == 3
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


async def test_server_killed_mid_reply_leaves_the_conversation_history_whole(tmp_path: Path) -> None:
    from localvoice.conversation import Conversation

    notices: list[str] = []
    packaged = NoteTTS()
    with FakeGptSovits() as server:
        server.die_after_pieces = 5  # the very first clause dies mid-stream
        tts = FallbackTTS(make_tts(tmp_path, server), lambda: packaged, notices.append)
        clock = MonotonicClock()
        llm = ScriptedLLM(clock, [(0.0, REPLY)])
        conversation = Conversation(llm, tts, CollectingSink(24_000), clock, "你是助手")
        await conversation.reply_to("明天天气怎么样？")
        llm.pieces = [(0.0, "不客气。")]
        await conversation.reply_to("谢谢")
        await tts.aclose()
    assert [(m.role, m.content, m.interrupted) for m in conversation.history] == [
        ("user", "明天天气怎么样？", False),
        ("assistant", REPLY, False),
        ("user", "谢谢", False),
        ("assistant", "不客气。", False),
    ]
    assert llm.calls[1][2].content == REPLY, "the next prompt carries the whole reply"
    assert packaged.said[-1] == "不客气。" and len(notices) == 1, "one notice for the whole outage"


def test_an_older_server_that_takes_only_true_false_gets_the_fix_named() -> None:
    body = (
        b'{"detail":[{"type":"bool_parsing","loc":["body","streaming_mode"],'
        b'"msg":"Input should be a valid boolean, unable to interpret input","input":3}]}'
    )
    message = refusal(422, body)
    assert "\n" not in message and message.endswith("set tts.gpt_sovits.streaming_mode=1")


@pytest.mark.slow
async def test_the_real_wiring_falls_back_to_the_packaged_voice(tmp_path: Path) -> None:
    from localvoice.backends.tts.packaged import PackagedTTS

    config = Config()
    config.tts.backend = "gpt_sovits"
    notices: list[str] = []
    with FakeGptSovits() as server:
        config.tts.gpt_sovits.url = server.url
        add_voice(tmp_path, config.tts.gpt_sovits)
        tts = build_tts(config, notices.append)
        server.die_after_pieces = 4
        clock = MonotonicClock()
        sink = CollectingSink(24_000)
        llm = ScriptedLLM(clock, [(0.0, "好的，我来帮你查一下。明天北京晴。")])
        pipeline = ReplyPipeline(
            llm, tts, sink, clock, lambda event: None, ReplySettings(first_clause_min_chars=2)
        )
        finished = await pipeline.run(1, MESSAGES)
        await tts.aclose()
    assert isinstance(tts, FallbackTTS) and isinstance(tts._fallback, PackagedTTS)
    assert finished.error is None and finished.heard == "好的，我来帮你查一下。明天北京晴。"
    assert sum("packaged voice speaks" in n for n in notices) == 1, notices
    assert sink.collected().duration_s > 1.0, "the packaged voice spoke the reply"
