"""Persona and voice pickers on ``/ws``, against the real app (uvicorn, Whisper, llama.cpp, packaged
voices) with a persona stored in a temporary data dir and a cloned voice on the fake GPT-SoVITS server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localvoice.backends.tts.fallback import FallbackTTS
from localvoice.bench.fake_gpt_sovits import FakeGptSovits
from localvoice.persona import store
from localvoice.server import pickers
from localvoice.server.voice_client import VoiceClient
from localvoice.voiceclone.voices import Voice, VoiceStore
from tests.fake_ollama import FakeOllama, unused_local_url
from tests.integration.test_gpt_sovits_tts import reference
from tests.server_fixtures import RunningServer, running_server, server_config

pytestmark = pytest.mark.slow
MODEL = "qwen2.5-coder-0.5b"
CAT = 'FROM {model}\nPARAMETER temperature 0\nPARAMETER seed 1\nSYSTEM """Always start your answer with 喵。"""\n'
CAT_EXAMPLES = "MESSAGE user What colour is the sky?\nMESSAGE assistant 喵。The sky is blue.\n"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGptSovits]:
    with FakeGptSovits() as server:
        yield server


@pytest.fixture(scope="module")
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One user data dir for the module's servers: the personas are read per connection."""
    tmp = tmp_path_factory.mktemp("pickers")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp / "data"))
        store.save("cat", CAT.format(model=MODEL) + CAT_EXAMPLES, MODEL, on_ollama=False)
        store.save("big", CAT.format(model="qwen2.5-coder-1.5b"), "qwen2.5-coder-1.5b", on_ollama=False)
        store.save("oc", CAT.format(model="qwen2.5:3b"), "", on_ollama=True)  # registered on Ollama only
        yield tmp


@pytest.fixture(scope="module")
def server(data_home: Path, fake: FakeGptSovits) -> Iterator[RunningServer]:
    tmp = data_home
    config = server_config(tmp / "logs")
    config.llm.model = MODEL
    config.tts.gpt_sovits.url = fake.url
    config.tts.gpt_sovits.voices_dir = str(tmp / "voices")
    VoiceStore.from_config(config.tts.gpt_sovits).add(
        Voice("me", "", "怎样才能更专心地学习？周末在家可以做些什么？", "zh"), reference(tmp)
    )
    with running_server(config) as running:
        yield running


async def _until(client: VoiceClient, kind: str, timeout_s: float = 120.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            frame = await client.socket.recv()
            if isinstance(frame, str) and (event := json.loads(frame))["type"] == kind:
                found: dict[str, Any] = event
                return found


async def _typed_turn(client: VoiceClient, text: str) -> tuple[str, int]:
    """The reply's text and its audio bytes for one typed message."""
    await client.send_json({"type": "text", "text": text})
    written, audio = "", 0
    async with asyncio.timeout(180):
        while True:
            frame = await client.socket.recv()
            if isinstance(frame, bytes):
                audio += len(frame)
                continue
            event = json.loads(frame)
            if event["type"] == "reply_delta":
                written += event["text"]
            elif event["type"] == "reply_done":
                return written, audio


async def test_a_persona_is_listed_chosen_and_answers_the_next_turn(server: RunningServer) -> None:
    async with VoiceClient(server.ws_url) as client:
        choices = await _until(client, "choices")
        assert choices["personas"] == ["cat"]  # "big" is FROM another model than the loaded one
        assert choices["voices"] == ["me"] and choices["persona"] == "" and choices["voice"] == ""
        plain, _ = await _typed_turn(client, "What is two plus two?")
        assert not plain.startswith("喵")

        await client.send_json({"type": "config", "persona": "cat"})
        picked = await _until(client, "choices")
        assert picked["persona"] == "cat" and picked["restarted"] is True
        reply, audio = await _typed_turn(client, "What is two plus two?")
    assert reply.startswith("喵"), reply
    assert audio > 0


async def test_a_persona_for_another_model_gets_one_error_line(server: RunningServer) -> None:
    async with VoiceClient(server.ws_url) as client:
        await client.send_json({"type": "config", "persona": "big"})
        error = await _until(client, "error")
        await client.send_json({"type": "config", "persona": "nobody"})
        missing = await _until(client, "error")
    assert error["code"] == "bad_choice" and "\n" not in error["message"]
    assert "--set llm.persona=big" in error["message"]
    assert "no persona 'nobody'" in missing["message"]


async def test_a_cloned_voice_is_chosen_and_speaks_the_reply(
    server: RunningServer, fake: FakeGptSovits
) -> None:
    before = len(fake.tts_bodies())
    async with VoiceClient(server.ws_url) as client:
        await _until(client, "choices")
        await client.send_json({"type": "config", "voice": "me"})
        picked = await _until(client, "choices")
        assert picked["voice"] == "me" and picked["persona"] == ""
        reply, audio = await _typed_turn(client, "Say hello in one short sentence.")
    bodies = fake.tts_bodies()[before:]
    assert bodies, "the fake GPT-SoVITS server was never asked to speak"
    assert all(body["text"].strip() in reply for body in bodies)
    assert bodies[0]["ref_audio_path"].endswith("reference.wav")
    assert audio > 0


def test_an_unreachable_gpt_sovits_voice_falls_back_to_the_packaged_one_with_a_notice(
    server: RunningServer,
) -> None:
    config = server.state.config
    down = dataclasses.replace(
        config,
        tts=dataclasses.replace(
            config.tts, gpt_sovits=dataclasses.replace(config.tts.gpt_sovits, url=unused_local_url())
        ),
    )
    notices: list[str] = []
    tts = pickers.build_voice_tts(down, "me", notices.append)
    assert isinstance(tts, FallbackTTS)
    assert any("packaged voice speaks" in line for line in notices), notices


async def test_on_ollama_a_persona_is_served_by_its_name_with_its_sampling(data_home: Path) -> None:
    with FakeOllama(models=("qwen2.5:3b", "oc")) as ollama:
        config = server_config(data_home / "ollama-logs", llm_backend="ollama")
        config.llm.host = ollama.url
        config.tts.gpt_sovits.voices_dir = str(data_home / "no-voices")
        with running_server(config) as server:
            async with VoiceClient(server.ws_url) as client:
                choices = await _until(client, "choices")
                await _typed_turn(client, "Hello there")
                await client.send_json({"type": "config", "persona": "oc"})
                await _until(client, "choices")
                await _typed_turn(client, "Hello again")
            async with VoiceClient(server.ws_url) as other:  # the shared backend is unchanged
                await _until(other, "choices")
                await _typed_turn(other, "Hello, other")
    assert choices["personas"] == ["oc"] and choices["voices"] == []
    chats = [body for body in ollama.chat_bodies() if body.get("messages")]
    assert [body["model"] for body in chats] == ["qwen2.5:3b", "oc", "qwen2.5:3b"]
    assert chats[1]["options"]["temperature"] == 0 and chats[1]["messages"][0]["content"].startswith("Always")
    assert chats[2]["options"]["temperature"] != 0
