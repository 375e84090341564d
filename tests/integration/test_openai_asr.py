"""OpenAiASR over real HTTP on 127.0.0.1 against the protocol-faithful fake (checked here against the
official ``openai`` client); real Whisper behind a real ``localvoice serve``: test_openai_asr_serve.py."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import openai
import pytest
import soundfile as sf

from localvoice.assemble import build_asr
from localvoice.audio.wav import read_audio
from localvoice.backends.asr.openai_asr import OpenAiASR, language_code
from localvoice.config import Config, load_config, to_toml
from localvoice.errors import BackendError, BackendUnavailableError, ConfigError
from localvoice.events import AudioClip
from tests.fake_ollama import unused_local_url
from tests.openai_audio_server import FakeOpenAiAudio, openai_audio_fixture

__all__ = ["openai_audio_fixture"]

SPEECH = Path(__file__).parents[1] / "fixtures" / "speech"
QUESTION_ZH = SPEECH / "question_zh.wav"


def asr(server: FakeOpenAiAudio, **settings: object) -> OpenAiASR:
    config = Config()
    config.asr.backend = "openai"
    config.asr.openai.url = server.url
    for key, value in settings.items():
        section, _, leaf = key.rpartition("__")
        setattr(config.asr.openai if section == "openai" else config.asr, leaf, value)
    built = build_asr(config)
    assert isinstance(built, OpenAiASR)
    return built


def test_the_fake_speaks_the_protocol_the_official_client_reads(openai_audio: FakeOpenAiAudio) -> None:
    client = openai.OpenAI(base_url=f"{openai_audio.url}/v1", api_key="k", max_retries=0)
    openai_audio.transcript = "明天天气怎么样？"
    with QUESTION_ZH.open("rb") as file:
        verbose = client.audio.transcriptions.create(
            model="whisper-1", file=file, response_format="verbose_json"
        )
    assert verbose.text == "明天天气怎么样？" and verbose.language == "chinese"
    assert verbose.duration == pytest.approx(sf.info(QUESTION_ZH).duration, abs=0.01)
    assert verbose.segments is not None and verbose.segments[0].end == verbose.duration
    with QUESTION_ZH.open("rb") as file:
        plain = client.audio.transcriptions.create(model="whisper-1", file=file, language="en")
    assert plain.text == "明天天气怎么样？"
    with QUESTION_ZH.open("rb") as file:
        text = client.audio.transcriptions.create(model="whisper-1", file=file, response_format="text")
    assert text.strip() == "明天天气怎么样？"
    upload = openai_audio.uploads[0]
    assert upload.filename == "question_zh.wav" and upload.data == QUESTION_ZH.read_bytes()
    assert upload.form == {"model": "whisper-1", "response_format": "verbose_json"}
    assert openai_audio.uploads[1].form["language"] == "en"

    with pytest.raises(openai.BadRequestError, match="Invalid file format"):
        client.audio.transcriptions.create(model="whisper-1", file=("x.wav", b"not audio at all"))
    with pytest.raises(openai.BadRequestError, match="ISO-639-1"):
        client.audio.transcriptions.create(model="whisper-1", file=QUESTION_ZH, language="chinese")
    openai_audio.api_key = "right"
    with pytest.raises(openai.AuthenticationError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=QUESTION_ZH)
    assert caught.value.code == "invalid_api_key"


async def test_a_spoken_question_goes_out_as_a_wav_and_comes_back_simplified(
    openai_audio: FakeOpenAiAudio,
) -> None:
    clip = read_audio(QUESTION_ZH)
    openai_audio.transcript = "今天北京的天氣怎麼樣?"  # traditional, ASCII "?": as Whisper writes unprompted
    recogniser = asr(openai_audio, openai__model="whisper-large-v3")
    transcript = await recogniser.transcribe(clip)
    await recogniser.aclose()
    assert transcript.text == "今天北京的天气怎么样？" and transcript.language == "zh"
    assert transcript.duration_s == clip.duration_s
    upload = openai_audio.uploads[0]
    assert upload.content_type == "audio/wav" and upload.filename.endswith(".wav")
    sent, rate = sf.read(io.BytesIO(upload.data), dtype="int16")
    assert rate == 16_000 and np.array_equal(sent, clip.samples), "the utterance arrives sample for sample"
    assert upload.form == {"model": "whisper-large-v3", "response_format": "verbose_json", "temperature": "0"}


async def test_the_language_hint_goes_out_and_asr_language_is_the_default(
    openai_audio: FakeOpenAiAudio,
) -> None:
    openai_audio.transcript = "What is the capital of France?"
    recogniser = asr(openai_audio, language="en")
    transcript = await recogniser.transcribe(read_audio(SPEECH / "question_en.wav"))
    said = await recogniser.transcribe(read_audio(QUESTION_ZH), language="zh")
    await recogniser.aclose()
    assert [u.form.get("language") for u in openai_audio.uploads] == ["en", "zh"]
    assert (transcript.text, transcript.language) == ("What is the capital of France?", "en")
    assert said.language == "zh"


async def test_a_language_outside_asr_languages_is_asked_again_in_the_one_its_script_shows(
    openai_audio: FakeOpenAiAudio,
) -> None:
    openai_audio.hear = lambda clip, form: ("停一下", form.get("language") or "ja")
    recogniser = asr(openai_audio)  # asr.languages = ["zh", "en"]
    transcript = await recogniser.transcribe(read_audio(QUESTION_ZH))
    await recogniser.aclose()
    assert [u.form.get("language") for u in openai_audio.uploads] == [None, "zh"]
    assert (transcript.text, transcript.language) == ("停一下", "zh")


async def test_json_answers_carry_no_language_so_the_script_tells(openai_audio: FakeOpenAiAudio) -> None:
    openai_audio.transcript = "今天 天氣 好嗎"
    recogniser = asr(openai_audio, openai__response_format="json")
    transcript = await recogniser.transcribe(read_audio(QUESTION_ZH))
    await recogniser.aclose()
    assert [u.form["response_format"] for u in openai_audio.uploads] == ["json"], "one request"
    assert (transcript.text, transcript.language) == ("今天天气好吗", "zh")


async def test_silence_is_not_sent_and_credits_on_a_quiet_clip_are_dropped(
    openai_audio: FakeOpenAiAudio,
) -> None:
    recogniser = asr(openai_audio)
    silent = await recogniser.transcribe(AudioClip(np.zeros(16_000, np.int16), 16_000))
    assert silent.text == "" and not openai_audio.uploads
    hiss = (np.random.default_rng(1).standard_normal(16_000) * 60).astype(np.int16)  # about -55 dBFS RMS
    openai_audio.transcript = "謝謝觀看"
    credits = await recogniser.transcribe(AudioClip(hiss, 16_000))
    await recogniser.aclose()
    assert len(openai_audio.uploads) == 1 and credits.text == "" and credits.language == ""


async def test_server_down_at_start_is_one_clear_line() -> None:
    config = Config()
    config.asr.backend = "openai"
    config.asr.openai.url = unused_local_url() + "/v1"
    recogniser = build_asr(config)
    with pytest.raises(BackendUnavailableError) as caught:
        await recogniser.warm_up()
    with pytest.raises(BackendUnavailableError):
        await recogniser.transcribe(read_audio(QUESTION_ZH))
    await recogniser.aclose()
    message = str(caught.value)
    assert "\n" not in message and "/v1" not in message.split(" at ")[1]
    assert message.startswith("no OpenAI-compatible transcription server answers at http://127.0.0.1:")
    assert message.endswith("or point asr.openai.url at where it runs")


async def test_garbage_a_refused_key_and_a_bad_request_are_one_line_each(
    openai_audio: FakeOpenAiAudio,
) -> None:
    clip = read_audio(QUESTION_ZH)
    recogniser = asr(openai_audio, openai__api_key="wrong")
    openai_audio.api_key = "right"
    with pytest.raises(BackendError) as refused:
        await recogniser.warm_up()
    assert "\n" not in str(refused.value)
    assert (
        f"the transcription server at {openai_audio.url} refused the API key (HTTP 401): Incorrect API key"
        in str(refused.value)
    )
    assert str(refused.value).endswith("set asr.openai.api_key or OPENAI_API_KEY")
    await recogniser.aclose()

    openai_audio.api_key = None
    openai_audio.transcription_garbage = b"\xff\xfe<html>oops</html>"
    recogniser = asr(openai_audio)
    with pytest.raises(BackendError) as garbage:
        await recogniser.transcribe(clip)
    assert str(garbage.value) == (
        f"{openai_audio.url} answered with something that is not the OpenAI audio API (bytes that are not "
        "JSON); check that asr.openai.url points at an OpenAI-compatible transcription server"
    )
    openai_audio.transcription_garbage = (
        b'{"error": {"message": "CUDA out of memory", "type": "server_error"}}'
    )
    with pytest.raises(BackendError) as under_200:
        await recogniser.transcribe(clip)
    assert str(under_200.value) == (
        f"the transcription server at {openai_audio.url} could not transcribe the utterance: CUDA out of memory"
    )
    openai_audio.transcription_garbage = None
    recogniser = asr(openai_audio, language="chinese")
    with pytest.raises(BackendError, match=r"refused the request \(HTTP 400\): Invalid language 'chinese'"):
        await recogniser.transcribe(clip)
    await recogniser.aclose()


def test_config_the_key_defaults_to_openai_api_key_and_is_masked(tmp_path: Path) -> None:
    empty = tmp_path / "config.toml"
    empty.write_text("")
    config = load_config(empty, environ={"OPENAI_API_KEY": "sk-x"})
    assert config.asr.openai.api_key == "sk-x" and config.tts.openai.api_key == "sk-x"
    shown = to_toml(config)
    assert "sk-x" not in shown and "[asr.openai]" in shown and "[tts.openai]" in shown
    with pytest.raises(ConfigError, match="response_format must be verbose_json or json"):
        OpenAiASR("http://127.0.0.1:1", "whisper-1", response_format="srt")
    with pytest.raises(ConfigError, match=r"asr\.openai\.url must be an http"):
        OpenAiASR("127.0.0.1:8000", "whisper-1")


@pytest.mark.parametrize(
    ("name", "code"), [("chinese", "zh"), ("English", "en"), ("zh", "zh"), ("zh-CN", "zh"), ("klingon", "")]
)
def test_language_names_become_codes(name: str, code: str) -> None:
    assert language_code(name) == code
