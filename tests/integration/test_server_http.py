"""The HTTP APIs of ``localvoice serve`` with the real embedded models, through the official
``openai`` and ``ollama`` clients, plus abuse (auth, oversize, non-audio, malformed): one server,
started with a token, loaded once for the module."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import ollama
import openai
import pytest
import soundfile as sf

from tests.server_fixtures import RunningServer, running_server, server_config

pytestmark = pytest.mark.slow

TOKEN = "test-token-5a1f"
SPEECH = Path(__file__).parents[1] / "fixtures" / "speech"
QUESTION_ZH = SPEECH / "question_zh.wav"  # 今天北京的天气怎么样？
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(server_config(tmp_path_factory.mktemp("logs")), token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def oai(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def oll(server: RunningServer) -> ollama.Client:
    return ollama.Client(host=server.url, headers=server.auth_headers, timeout=300)


def _still_serves(server: RunningServer) -> None:
    reply = httpx.get(f"{server.url}/v1/models", headers=server.auth_headers, timeout=30)
    assert reply.status_code == 200 and reply.json()["data"]


def _has_beijing_weather(text: str) -> bool:
    return "北京" in text and "天气" in text


# ---- OpenAI client ----


def test_transcription_in_every_response_format(oai: openai.OpenAI) -> None:
    duration_s = sf.info(str(QUESTION_ZH)).duration
    plain = oai.audio.transcriptions.create(model="whisper-1", file=QUESTION_ZH.open("rb"), language="zh")
    assert _has_beijing_weather(plain.text), plain.text

    text = oai.audio.transcriptions.create(
        model="whisper-1", file=QUESTION_ZH.open("rb"), response_format="text"
    )
    assert _has_beijing_weather(str(text))

    verbose = oai.audio.transcriptions.create(
        model="whisper-1", file=QUESTION_ZH.open("rb"), response_format="verbose_json"
    )
    assert verbose.language == "zh"  # detected: no language was given
    assert verbose.duration == pytest.approx(duration_s, abs=0.05)
    assert verbose.segments and _has_beijing_weather("".join(s.text for s in verbose.segments))
    assert all(0 <= s.start < s.end <= duration_s + 0.5 for s in verbose.segments)

    srt = str(
        oai.audio.transcriptions.create(model="whisper-1", file=QUESTION_ZH.open("rb"), response_format="srt")
    )
    assert re.match(r"1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n\S", srt), srt
    assert _has_beijing_weather(srt)

    vtt = str(
        oai.audio.transcriptions.create(model="whisper-1", file=QUESTION_ZH.open("rb"), response_format="vtt")
    )
    assert vtt.startswith("WEBVTT\n\n") and re.search(
        r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n", vtt
    )


def test_speech_to_a_file_is_audible_and_says_the_words(
    oai: openai.OpenAI, server: RunningServer, tmp_path: Path
) -> None:
    out = tmp_path / "speech.wav"
    with oai.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="今天天气很好，我们去公园散步吧。", response_format="wav"
    ) as response:
        response.stream_to_file(out)
    audio, rate = sf.read(str(out), dtype="float32")
    assert rate == 24_000
    assert 1.0 < len(audio) / rate < 10.0
    assert float(np.sqrt(np.mean(audio**2))) > 0.02  # audible, not silence
    # The server's own ears hear the words back.
    heard = oai.audio.transcriptions.create(model="whisper-1", file=out.open("rb"), language="zh")
    assert "天气" in heard.text and "公园" in heard.text, heard.text


def test_speech_formats_speed_and_refusals(oai: openai.OpenAI) -> None:
    normal = oai.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there, nice to meet you.", response_format="wav"
    )
    base, rate = sf.read(io.BytesIO(normal.read()), dtype="float32")
    base_s = len(base) / rate
    for name in ("flac", "opus", "mp3"):
        encoded = oai.audio.speech.create(
            model="tts-1",
            voice="alloy",
            input="Hello there, nice to meet you.",
            response_format=name,
        ).read()
        decoded, decoded_rate = sf.read(io.BytesIO(encoded), dtype="float32")
        assert len(decoded) / decoded_rate == pytest.approx(base_s, rel=0.1), name
        assert float(np.sqrt(np.mean(decoded**2))) > 0.02, name
    pcm = oai.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there, nice to meet you.", response_format="pcm"
    ).read()
    # Raw s16le at the same rate (the English voice varies its timing a little from one call to the next).
    assert len(pcm) % 2 == 0 and len(pcm) / 2 / rate == pytest.approx(base_s, rel=0.1)
    fast = oai.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there, nice to meet you.", response_format="wav", speed=2.0
    ).read()
    fast_audio, fast_rate = sf.read(io.BytesIO(fast), dtype="float32")
    assert len(fast_audio) / fast_rate == pytest.approx(base_s / 2, rel=0.1)
    with pytest.raises(openai.BadRequestError, match="aac") as refused:
        oai.audio.speech.create(model="tts-1", voice="alloy", input="hi", response_format="aac")
    assert "wav" in str(refused.value) and "pcm" in str(refused.value)


def test_pcm_speech_streams_clause_by_clause(server: RunningServer) -> None:
    text = "第一句话就在这里。第二句话也在这里。第三句话还在这里。"
    request = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": "pcm"}
    started = time.monotonic()
    first_s: float | None = None
    received = bytearray()
    with httpx.stream(
        "POST", f"{server.url}/v1/audio/speech", json=request, headers=server.auth_headers, timeout=120
    ) as reply:
        assert reply.status_code == 200 and reply.headers["x-sample-rate"] == "24000"
        for chunk in reply.iter_bytes():
            first_s = first_s if first_s is not None else time.monotonic() - started
            received.extend(chunk)
    whole_s = time.monotonic() - started
    assert first_s is not None and first_s < 0.7 * whole_s, (first_s, whole_s)  # not held back to the end
    samples = np.frombuffer(bytes(received), dtype="<i2").astype(np.float64) / 32768
    assert 2.0 < len(samples) / 24_000 < 15.0 and float(np.sqrt(np.mean(samples**2))) > 0.02


def test_chat_streamed_and_not(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="localvoice",
        messages=[{"role": "user", "content": "你好，请用一句话介绍你自己。"}],
        stream=True,
        max_tokens=24,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(streamed.strip()) > 2
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")

    reply = oai.chat.completions.create(
        model="localvoice",
        messages=[{"role": "user", "content": "Say hello in English."}],
        temperature=0,
        seed=3,
    )
    assert reply.object == "chat.completion" and reply.model == "localvoice"
    assert (reply.choices[0].message.content or "").strip()
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_concurrent_chats_keep_their_own_settings_and_answers(
    oai: openai.OpenAI, server: RunningServer
) -> None:
    """Two requests at once on the one shared model: neither's max_tokens nor words leak into the other."""

    async def both() -> tuple[openai.types.chat.ChatCompletion, openai.types.chat.ChatCompletion]:
        client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=TOKEN, max_retries=0, timeout=300)
        short = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Count from one to thirty in English words."}],
            max_tokens=3,
            temperature=0,
        )
        long = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "用中文介绍一下北京。"}],
            max_tokens=24,
            temperature=0,
        )
        return await asyncio.gather(short, long)

    short, long = asyncio.run(both())
    assert short.choices[0].finish_reason == "length" and short.usage is not None
    assert short.usage.completion_tokens <= 3
    assert long.usage is not None and long.usage.completion_tokens > 3
    assert re.search(r"[\u4e00-\u9fff]", long.choices[0].message.content or "")
    assert not re.search(r"[\u4e00-\u9fff]", short.choices[0].message.content or "")


def test_models_list_names_the_loaded_models(oai: openai.OpenAI) -> None:
    ids = [model.id for model in oai.models.list()]
    assert "qwen2.5-coder-1.5b" in ids and "whisper-base" in ids and len(ids) == 3


# ---- Ollama client ----


def test_ollama_chat_streamed_and_not(oll: ollama.Client) -> None:
    whole = oll.chat(
        model="localvoice", messages=[{"role": "user", "content": "你好"}], options={"num_predict": 24}
    )
    assert whole.done and whole.done_reason in ("stop", "length") and whole.message.role == "assistant"
    assert whole.message.content and whole.eval_count and whole.eval_count <= 24
    assert whole.total_duration and whole.eval_duration and whole.total_duration >= whole.eval_duration

    parts = list(oll.chat(model="localvoice", messages=[{"role": "user", "content": "Hi!"}], stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert "".join(p.message.content or "" for p in parts).strip()
    assert parts[-1].eval_count == len(parts) - 1  # one piece a line, then the summary line


def test_ollama_generate_list_and_version(oll: ollama.Client, server: RunningServer) -> None:
    made = oll.generate(
        model="localvoice",
        prompt="What is 2 + 3? Answer with the digit only.",
        options={"num_predict": 8, "temperature": 0},
    )
    assert made.done and "5" in made.response
    names = [m.model for m in oll.list().models]
    assert names == ["qwen2.5-coder-1.5b"]
    version = httpx.get(f"{server.url}/api/version", headers=server.auth_headers).json()
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version["version"])
    loaded = oll.chat(model="localvoice", messages=[])  # Ollama's "load the model" request
    assert loaded.done_reason == "load"


# ---- abuse: each time the server keeps serving ----


def test_missing_and_wrong_tokens_are_401(server: RunningServer) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()
    with pytest.raises(ollama.ResponseError) as refused:
        ollama.Client(host=server.url).list()
    assert refused.value.status_code == 401
    bare = httpx.post(f"{server.url}/api/chat", json={"model": "m", "messages": []})
    assert bare.status_code == 401 and isinstance(bare.json()["error"], str)
    _still_serves(server)


def test_an_oversize_upload_is_413_and_the_server_still_serves(
    oai: openai.OpenAI, server: RunningServer
) -> None:
    too_big = b"RIFF" + bytes(26 * MB)
    with pytest.raises(openai.APIStatusError) as refused:
        oai.audio.transcriptions.create(model="whisper-1", file=("big.wav", too_big))
    assert refused.value.status_code == 413 and "25 MB" in str(refused.value)
    _still_serves(server)


def test_an_oversize_upload_is_refused_without_reading_it_all(server: RunningServer) -> None:
    # Declared: refused on the headers, long before 10 GB could arrive.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Type: multipart/form-data; boundary=b\r\n".encode()
            + b"Content-Length: 10000000000\r\n\r\n"
            + bytes(64 * 1024)
        )
        started = time.monotonic()
        head = raw.recv(4096)
        assert head.startswith(b"HTTP/1.1 413"), head
        assert time.monotonic() - started < 5
    # Not declared (chunked): counted while it streams and cut off, not read to the end.
    sent_mb = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent_mb
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for _ in range(400):
            sent_mb += 1
            yield bytes(MB)

    try:
        reply = httpx.post(
            f"{server.url}/v1/audio/transcriptions",
            content=endless(),
            headers={**server.auth_headers, "Content-Type": "multipart/form-data; boundary=b"},
            timeout=60,
        )
        assert reply.status_code == 413
    except httpx.TransportError:
        pass  # the server closed the connection while the client was still sending: also a refusal
    assert sent_mb < 200, f"the server read {sent_mb} MB of a body over the 25 MB limit"
    _still_serves(server)


def test_non_audio_wrong_types_and_malformed_bodies(oai: openai.OpenAI, server: RunningServer) -> None:
    with pytest.raises(openai.APIStatusError) as not_audio:
        oai.audio.transcriptions.create(model="whisper-1", file=("notes.wav", "这不是音频。".encode() * 100))
    assert not_audio.value.status_code == 415 and "notes.wav" in str(not_audio.value)
    with pytest.raises(openai.BadRequestError, match="klingon"):
        oai.audio.transcriptions.create(model="whisper-1", file=QUESTION_ZH.open("rb"), language="klingon")
    auth = server.auth_headers
    as_json = httpx.post(f"{server.url}/v1/audio/transcriptions", json={"file": "x"}, headers=auth)
    assert as_json.status_code == 415
    broken = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=b'{"model": "m", "messages": [',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["error"] == {
        "message": "the request body is not valid JSON",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_request",
    }
    ollama_broken = httpx.post(f"{server.url}/api/chat", content=b"{nope", headers=auth)
    assert ollama_broken.status_code == 400 and ollama_broken.json() == {
        "error": "the request body is not valid JSON"
    }
    no_model = httpx.post(
        f"{server.url}/api/chat", json={"messages": [{"role": "user", "content": "hi"}]}, headers=auth
    )
    assert no_model.status_code == 400 and no_model.json() == {"error": "model is required"}
    bad_role = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "wizard", "content": "hi"}]},
        headers=auth,
    )
    assert bad_role.status_code == 400 and "wizard" in bad_role.json()["error"]["message"]
    _still_serves(server)


def test_a_client_gone_mid_reply_frees_its_slot(server: RunningServer, oll: ollama.Client) -> None:
    counting = [
        {"role": "system", "content": "You count. Write the numbers one per line and never stop early."},
        {"role": "user", "content": "Count from 1 to 400."},
    ]
    body = {"model": "m", "messages": counting, "options": {"num_predict": 400, "temperature": 0}}
    with (
        httpx.Client(headers=server.auth_headers, timeout=120) as http,
        http.stream("POST", f"{server.url}/api/chat", json=body) as streaming,
    ):
        lines = streaming.iter_lines()
        seen = [next(lines) for _ in range(3)]
        assert all('"done":false' in line for line in seen), seen
        in_use = server.state.request_slots.in_use
        assert in_use == 1, f"{in_use} slots in use mid-reply; then the server sent: {seen + list(lines)}"
    # Leaving the block closed the response, and so the connection, mid-reply.
    deadline = time.monotonic() + 30
    while server.state.request_slots.in_use and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.state.request_slots.in_use == 0
    started = time.monotonic()
    after = oll.generate(model="m", prompt="Say OK.", options={"num_predict": 4})
    waited_s = time.monotonic() - started
    assert after.done and after.response.strip() and after.eval_count and after.eval_duration
    # The abandoned count stopped: the model did not go on writing 400 tokens before this reply.
    count_s = 400 / (after.eval_count / (after.eval_duration / 1e9))
    assert waited_s < count_s / 2, (
        f"waited {waited_s:.1f} s; the rest of the count would take {count_s:.1f} s"
    )
