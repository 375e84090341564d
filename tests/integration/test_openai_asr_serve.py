"""OpenAiASR and OpenAiTTS against a real ``localvoice serve`` (uvicorn, the packaged Whisper base and
voices behind its OpenAI-compatible routes): one replica's heavy stages served to another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from localvoice.audio.wav import read_audio
from localvoice.backends.asr.openai_asr import OpenAiASR
from localvoice.backends.tts.openai_tts import OpenAiTTS
from localvoice.config import OpenAiTTSConfig
from localvoice.errors import BackendError
from localvoice.events import AudioClip
from tests.server_fixtures import RunningServer, running_server, server_config

pytestmark = pytest.mark.slow

SPEECH = Path(__file__).parents[1] / "fixtures" / "speech"
TOKEN = "engine-token"


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = server_config(tmp_path_factory.mktemp("serve-logs"))
    config.llm.model = "qwen2.5-coder-0.5b"  # unused here; the smaller packaged model loads faster
    with running_server(config, token=TOKEN) as running:
        yield running


def recogniser(serve: RunningServer, language: str | None = None) -> OpenAiASR:
    return OpenAiASR(f"{serve.url}/v1", "whisper-1", api_key=TOKEN, language=language)


@pytest.mark.parametrize(
    ("wav", "language", "words"),
    [("question_zh.wav", "zh", ["北京", "天气"]), ("question_en.wav", "en", ["capital", "france"])],
)
async def test_a_spoken_question_is_transcribed_by_localvoice_serve(
    serve: RunningServer, wav: str, language: str, words: list[str]
) -> None:
    asr = recogniser(serve)
    await asr.warm_up()
    transcript = await asr.transcribe(read_audio(SPEECH / wav))
    await asr.aclose()
    assert transcript.language == language, transcript
    assert all(word in transcript.text.lower() for word in words), transcript.text


async def test_speech_from_serve_is_heard_back_by_serve(serve: RunningServer) -> None:
    """Round trip through both routes: serve's voice speaks, serve's Whisper writes it back."""
    sentence = "明天北京晴，最高气温二十五度。"
    for response_format in ("pcm", "wav"):
        tts = OpenAiTTS(OpenAiTTSConfig(url=serve.url, api_key=TOKEN, response_format=response_format))
        await tts.warm_up()
        chunks = [chunk async for chunk in tts.stream_synthesize(sentence)]
        await tts.aclose()
        spoken = np.concatenate([c.samples for c in chunks])
        assert {c.sample_rate_hz for c in chunks} == {24_000}
        assert len(spoken) > 24_000, "over a second of speech"
        asr = recogniser(serve, language="zh")
        heard = await asr.transcribe(AudioClip(spoken, 24_000))
        await asr.aclose()
        assert "北京" in heard.text and "二十五" in heard.text.replace("25", "二十五"), heard.text


async def test_a_wrong_token_is_one_clear_line(serve: RunningServer) -> None:
    asr = OpenAiASR(serve.url, "whisper-1", api_key="wrong")
    with pytest.raises(BackendError) as caught:
        await asr.transcribe(read_audio(SPEECH / "question_en.wav"))
    await asr.aclose()
    message = str(caught.value)
    assert "\n" not in message and "refused the API key (HTTP 401)" in message
    assert message.endswith("set asr.openai.api_key or OPENAI_API_KEY")
