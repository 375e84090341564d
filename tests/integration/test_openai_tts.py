"""OpenAiTTS over real HTTP on 127.0.0.1, against the protocol-faithful fake (checked here against the
official ``openai`` client): streaming into the reply pipeline, the packaged-voice fallback, errors."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import numpy as np
import openai
import pytest
import soundfile as sf

from localvoice.assemble import build_tts
from localvoice.audio.sinks import CollectingSink
from localvoice.audio.wav import read_audio
from localvoice.backends.tts.fallback import FallbackTTS
from localvoice.backends.tts.openai_tts import OpenAiTTS
from localvoice.backends.tts.whole_clip import WholeClipTTS
from localvoice.clock import MonotonicClock
from localvoice.config import Config, OpenAiTTSConfig
from localvoice.errors import BackendError, BackendUnavailableError, ConfigError
from localvoice.events import AudioClip, Message
from localvoice.reply import ReplyPipeline, ReplySettings
from tests.e2e.cli_runner import run_cli
from tests.fake_ollama import FakeOllama, unused_local_url
from tests.fakes import ScriptedLLM
from tests.openai_audio_server import FakeOpenAiAudio, openai_audio_fixture

__all__ = ["openai_audio_fixture"]

REPLY = "好的，我来帮你查一下。明天北京晴，最高气温二十五度。适合出去走走，记得带水。"
CLAUSES = ["好的，我来帮你查一下。", "明天北京晴，最高气温二十五度。", "适合出去走走，记得带水。"]
MESSAGES = [Message("user", "明天天气怎么样？")]
SPEECH = Path(__file__).parents[1] / "fixtures" / "speech"


def make_tts(server: FakeOpenAiAudio, **settings: object) -> OpenAiTTS:
    config = OpenAiTTSConfig(url=f"{server.url}/v1")
    for key, value in settings.items():
        setattr(config, key, value)
    return OpenAiTTS(config)


class TimedSink(CollectingSink):
    """Collects at once and remembers when each chunk arrived (monotonic seconds)."""

    def __init__(self, rate_hz: int) -> None:
        super().__init__(rate_hz)
        self.arrivals: list[float] = []

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        self.arrivals.append(time.monotonic())
        return super().enqueue(clip)


class NoteTTS(WholeClipTTS):
    """The stand-in for the packaged voice: a 16 kHz tone, and a record of what it said."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def synthesize(self, text: str) -> AudioClip:
        self.said.append(text)
        return AudioClip(np.full(800 * len(text), 1000, np.int16), 16_000)


def test_the_fake_speaks_the_protocol_the_official_client_reads(openai_audio: FakeOpenAiAudio) -> None:
    client = openai.OpenAI(base_url=f"{openai_audio.url}/v1", api_key="k", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="你好，世界。", response_format="pcm"
    ) as response:
        pcm = b"".join(response.iter_bytes())
        assert response.headers["content-type"] == "audio/pcm"
    assert pcm == openai_audio.audio_for("你好，世界。").astype("<i2").tobytes()
    wav = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello.", response_format="wav")
    data = wav.read()
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt " and data[36:40] == b"data"
    assert data[44:] == openai_audio.audio_for("Hello.").astype("<i2").tobytes()
    assert openai_audio.spoken[0].body == {
        "model": "tts-1",
        "voice": "alloy",
        "input": "你好，世界。",
        "response_format": "pcm",
    }
    with pytest.raises(openai.BadRequestError, match="speed"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="x", speed=5.0)
    with pytest.raises(openai.BadRequestError, match="string too long"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="字" * 4097, response_format="pcm")
    openai_audio.api_key = "right"
    with pytest.raises(openai.AuthenticationError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="x")


@pytest.mark.parametrize(("response_format", "rate_hz"), [("pcm", 24_000), ("pcm", 22_050), ("wav", 32_000)])
async def test_a_clause_streams_in_chunks_and_comes_out_exact(response_format: str, rate_hz: int) -> None:
    text = "明天北京晴，最高气温二十五度。"
    with FakeOpenAiAudio(sample_rate_hz=rate_hz) as server:
        pcm_rate = rate_hz if response_format == "pcm" else 24_000  # wav: the header says the rate
        tts = make_tts(
            server, response_format=response_format, sample_rate_hz=pcm_rate, voice="nova", speed=1.25
        )
        chunks = [chunk async for chunk in tts.stream_synthesize(text)]
        await tts.aclose()
    assert len(chunks) > 3, "a streamed clause comes as many chunks"
    assert {c.sample_rate_hz for c in chunks} == {rate_hz}
    assert np.array_equal(np.concatenate([c.samples for c in chunks]), server.audio_for(text))
    assert server.spoken[0].body == {
        "model": "tts-1",
        "voice": "nova",
        "input": text,
        "response_format": response_format,
        "speed": 1.25,
    }


async def test_the_reply_plays_in_order_and_the_first_chunk_before_the_body_ends(
    openai_audio: FakeOpenAiAudio,
) -> None:
    openai_audio.first_chunk_delay_s = 0.05
    openai_audio.chunk_delay_s = 0.02  # ~1000 bytes every 20 ms: about 1 s of sending per clause
    tts = make_tts(openai_audio)
    clock = MonotonicClock()
    sink = TimedSink(24_000)
    llm = ScriptedLLM(clock, [(0.0, REPLY)])
    settings = ReplySettings(first_clause_min_chars=2, max_concurrency=2)
    finished = await ReplyPipeline(llm, tts, sink, clock, lambda event: None, settings).run(1, MESSAGES)
    await tts.aclose()
    clauses = sorted((s.text for s in openai_audio.spoken), key=REPLY.index)
    assert "".join(clauses) == REPLY and len(clauses) >= 3
    first = next(s for s in openai_audio.spoken if s.text == clauses[0])
    assert first.finished_s is not None
    assert sink.arrivals[0] < first.finished_s - 0.3, "the first chunk played long before the body ended"
    expected = np.concatenate([openai_audio.audio_for(c) for c in clauses])
    assert np.array_equal(sink.collected().samples, expected), "every clause, whole, in order"
    assert finished.error is None and finished.heard == REPLY


async def test_server_killed_mid_reply_the_packaged_voice_takes_over_with_one_notice() -> None:
    from localvoice.conversation import Conversation

    notices: list[str] = []
    packaged = NoteTTS()
    with FakeOpenAiAudio() as server:
        server.chunk_delay_s = 0.005
        tts = FallbackTTS(make_tts(server), lambda: packaged, notices.append, name="The speech server")
        clock = MonotonicClock()
        llm = ScriptedLLM(clock, [(0.0, REPLY[:11]), (0.3, REPLY[11:])])
        conversation = Conversation(llm, tts, CollectingSink(24_000), clock, "你是助手")
        server.die_on, server.die_after_pieces = CLAUSES[1], 3  # the second clause dies three pieces in
        await conversation.reply_to("明天天气怎么样？")
        llm.pieces = [(0.0, "不客气。")]
        await conversation.reply_to("谢谢")
        await tts.aclose()
    assert [s.text for s in server.spoken if s.finished_s is not None] == [CLAUSES[0]]
    assert packaged.said == [CLAUSES[1], CLAUSES[2], "不客气。"], "the cut clause again, whole, then the rest"
    assert len(notices) == 1, notices
    assert notices[0].startswith(f"the speech server at {server.url} stopped mid-clause")
    assert notices[0].endswith("the packaged voice speaks until it answers again.")
    assert [(m.role, m.content, m.interrupted) for m in conversation.history] == [
        ("user", "明天天气怎么样？", False),
        ("assistant", REPLY, False),
        ("user", "谢谢", False),
        ("assistant", "不客气。", False),
    ], "history keeps the whole reply"


async def test_a_server_back_after_retry_s_speaks_again_with_one_notice(
    openai_audio: FakeOpenAiAudio,
) -> None:
    now = [0.0]
    packaged = NoteTTS()
    notices: list[str] = []
    primary = make_tts(openai_audio)
    tts = FallbackTTS(
        primary, lambda: packaged, notices.append, retry_s=30, down_reason="down", now=lambda: now[0],
        name="The speech server",
    )  # fmt: skip
    await tts.synthesize("你好。")
    now[0] = 31.0
    clip = await tts.synthesize("你好。")
    await tts.aclose()
    assert packaged.said == ["你好。"] and [s.text for s in openai_audio.spoken] == ["你好。"]
    assert np.array_equal(clip.samples, openai_audio.audio_for("你好。"))
    assert notices == ["The speech server answers again: your voice is back."]


async def test_server_down_at_start_is_one_clear_line_without_the_fallback() -> None:
    config = Config()
    config.tts.backend = "openai"
    config.tts.openai.url = unused_local_url()
    config.tts.openai.fallback = False
    notices: list[str] = []
    tts = build_tts(config, notices.append)
    assert isinstance(tts, OpenAiTTS) and notices == [f"TTS: {tts.description}"]
    with pytest.raises(BackendUnavailableError) as caught:
        await tts.warm_up()
    with pytest.raises(BackendUnavailableError) as speaking:
        await tts.synthesize("你好。")
    await tts.aclose()
    for error in (caught.value, speaking.value):
        assert str(error) == (
            f"no OpenAI-compatible speech server answers at {config.tts.openai.url}; start one "
            "(`localvoice serve`, vLLM, speaches…) or point tts.openai.url at where it runs"
        )


async def test_server_down_at_start_with_the_fallback_one_notice_then_the_packaged_voice() -> None:
    config = Config()
    config.tts.backend = "openai"
    config.tts.openai.url = unused_local_url()
    tts = build_tts(config, lambda notice: None)
    assert isinstance(tts, FallbackTTS) and isinstance(tts.primary, OpenAiTTS)
    notices: list[str] = []
    packaged = NoteTTS()
    tts = FallbackTTS(tts.primary, lambda: packaged, notices.append)
    await tts.warm_up()
    await tts.synthesize("你好。")
    await tts.synthesize("再见。")
    await tts.aclose()
    assert not tts.primary_up and packaged.said == ["你好。", "再见。"]
    assert len(notices) == 1 and "no OpenAI-compatible speech server answers" in notices[0]


async def test_garbage_a_refused_key_and_an_empty_body_are_one_line_each(
    openai_audio: FakeOpenAiAudio,
) -> None:
    tts = make_tts(openai_audio)
    openai_audio.speech_garbage = b"<html><body>502 Bad Gateway</body></html>"
    with pytest.raises(BackendError) as garbage:
        await tts.synthesize("你好。")
    assert str(garbage.value) == (
        f"the speech server at {openai_audio.url} answered with text/html, not audio; check that "
        "tts.openai.url points at an OpenAI-compatible speech server"
    )
    openai_audio.speech_garbage = None
    wav = make_tts(openai_audio, response_format="wav")
    openai_audio.speech_garbage = b"RIFX\x00\x00"  # under text/html: refused before it is parsed
    with pytest.raises(BackendError, match="not audio"):
        await wav.synthesize("你好。")
    openai_audio.speech_garbage = None
    openai_audio.api_key = "right"
    with pytest.raises(BackendError) as refused:
        await tts.warm_up()
    assert str(refused.value) == (
        f"the speech server at {openai_audio.url} refused the API key (HTTP 401): Incorrect API key "
        "provided. You can find your API key in your account settings; set tts.openai.api_key or "
        "OPENAI_API_KEY"
    )
    for voice in (tts, wav):
        await voice.aclose()


def test_bad_settings_are_refused_before_any_request() -> None:
    with pytest.raises(ConfigError, match="must be pcm or wav"):
        OpenAiTTS(OpenAiTTSConfig(response_format="mp3"))
    with pytest.raises(ConfigError, match=r"between 0\.25 and 4\.0"):
        OpenAiTTS(OpenAiTTSConfig(speed=5.0))
    with pytest.raises(ConfigError, match="http:// or https://"):
        OpenAiTTS(OpenAiTTSConfig(url="localhost:8000"))


def test_doctor_checks_the_selected_speech_and_transcription_servers(
    tmp_path: Path, openai_audio: FakeOpenAiAudio
) -> None:
    dead = unused_local_url()
    selected = (
        "--set", "asr.backend=openai", "--set", f"asr.openai.url={openai_audio.url}/v1",
        "--set", "tts.backend=openai", "--set", f"tts.openai.url={dead}",
    )  # fmt: skip
    result = run_cli("doctor", *selected, log_dir=tmp_path, env={"OLLAMA_HOST": dead}, timeout_s=120)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    assert f"ok transcription server: answers at {openai_audio.url} (model whisper-1)" in lines
    speech = next(i for i, line in enumerate(lines) if line.startswith("!! speech server: "))
    assert lines[speech] == (
        f"!! speech server: no OpenAI-compatible speech server answers at {dead}; start one "
        "(`localvoice serve`, vLLM, speaches…) or point tts.openai.url at where it runs"
    )
    assert lines[speech + 1].strip() == "fix: start it, or set tts.openai.url"
    assert result.returncode == 1, "a selected server that is down is essential"
    assert ("GET", "/v1/models") in openai_audio.requests

    unselected = run_cli("doctor", log_dir=tmp_path, env={"OLLAMA_HOST": dead}, timeout_s=120)
    assert "transcription server" not in unselected.stdout and "speech server" not in unselected.stdout


@pytest.mark.slow
async def test_the_real_wiring_falls_back_to_the_packaged_voice_when_the_server_dies() -> None:
    from localvoice.backends.tts.packaged import PackagedTTS

    config = Config()
    config.tts.backend = "openai"
    notices: list[str] = []
    with FakeOpenAiAudio() as server:
        config.tts.openai.url = server.url
        tts = build_tts(config, notices.append)
        await tts.warm_up()
        server.die_on, server.die_after_pieces = "明天", 4
        clock = MonotonicClock()
        sink = CollectingSink(24_000)
        llm = ScriptedLLM(clock, [(0.0, "好的，我来帮你查一下。明天北京晴。")])
        pipeline = ReplyPipeline(llm, tts, sink, clock, lambda event: None, ReplySettings())
        finished = await pipeline.run(1, MESSAGES)
        await tts.aclose()
    assert isinstance(tts, FallbackTTS) and isinstance(tts._fallback, PackagedTTS)
    assert finished.error is None and finished.heard == "好的，我来帮你查一下。明天北京晴。"
    assert sum("packaged voice speaks" in n for n in notices) == 1, notices
    first = server.audio_for("好的，我来帮你查一下。")
    heard = sink.collected().samples
    assert np.array_equal(heard[: len(first)], first), "the server spoke the first clause"
    assert len(heard) - len(first) > 0.5 * 24_000, "the packaged voice spoke the rest"


def test_localvoice_turn_runs_on_openai_compatible_engines(
    tmp_path: Path, openai_audio: FakeOpenAiAudio
) -> None:
    """The real command, every stage on a server: Ollama's chat, OpenAI's transcription and speech."""
    openai_audio.transcript = "今天北京的天氣怎麼樣?"
    answer = tmp_path / "answer.wav"
    engines = (
        "--set", "asr.backend=openai", "--set", f"asr.openai.url={openai_audio.url}",
        "--set", "tts.backend=openai", "--set", f"tts.openai.url={openai_audio.url}/v1",
        "--set", "llm.backend=ollama", "--set", "llm.persona=none", "--set", "llm.tell_time=false",
    )  # fmt: skip
    with FakeOllama() as ollama:
        result = run_cli(
            "turn", str(SPEECH / "question_zh.wav"), "--out", str(answer), "--json", *engines,
            log_dir=tmp_path, env={"OLLAMA_HOST": ollama.url}, timeout_s=120,
        )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    out = json.loads(result.stdout)
    assert (out["transcript"], out["language"]) == ("今天北京的天气怎么样？", "zh")
    assert out["reply"] == "你说的是：今天北京的天气怎么样？。" and out["error"] is None
    assert ollama.chat_bodies()[-1]["messages"][-1]["content"].endswith("今天北京的天气怎么样？")
    clauses = sorted((s.text for s in openai_audio.spoken), key=out["reply"].index)
    written, rate = sf.read(answer, dtype="int16")
    assert rate == 24_000 and np.array_equal(
        written, np.concatenate([openai_audio.audio_for(c) for c in clauses])
    )
    upload = sf.read(io.BytesIO(openai_audio.uploads[0].data), dtype="int16")[0]
    assert np.array_equal(upload, read_audio(SPEECH / "question_zh.wav").samples)
