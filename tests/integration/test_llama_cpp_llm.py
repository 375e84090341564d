"""The embedded llama.cpp backend with the real default packaged model (loaded once per module)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from localvoice.backends.llm.llama_cpp import DEFAULT_PACKAGED_MODEL, LlamaCppLLM
from localvoice.backends.llm.sampling import Sampling
from localvoice.config import DEFAULT_SYSTEM_PROMPT, Config
from localvoice.errors import ConfigError, ModelIntegrityError
from localvoice.events import Message
from localvoice.models.packaged import ensure_model
from localvoice.protocols import LLM

pytestmark = pytest.mark.slow

SYSTEM = Message("system", DEFAULT_SYSTEM_PROMPT)
_HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def shared_llm() -> Iterator[LlamaCppLLM]:
    config = Config()
    config.llm.num_ctx = 2048  # smaller KV cache: faster to allocate, plenty for these tests
    llm = LlamaCppLLM.from_config(config.llm)
    asyncio.run(llm.warm_up())
    yield llm
    asyncio.run(llm.aclose())


@pytest.fixture
def llm(shared_llm: LlamaCppLLM) -> LlamaCppLLM:
    """The shared model with short, deterministic settings; a test may change them for itself."""
    shared_llm.sampling = Sampling(temperature=0.0, num_ctx=2048, num_predict=32, seed=7)
    return shared_llm


async def collect(llm: LlamaCppLLM, *messages: Message) -> list[str]:
    return [delta async for delta in llm.stream_chat([SYSTEM, *messages])]


def test_is_an_llm_described_by_its_model(shared_llm: LlamaCppLLM) -> None:
    gguf = ensure_model(DEFAULT_PACKAGED_MODEL)
    assert isinstance(shared_llm, LLM)
    assert shared_llm.description == f"llama.cpp {DEFAULT_PACKAGED_MODEL}"
    assert LlamaCppLLM(str(gguf)).description == "llama.cpp model.gguf"


def test_warm_up_leaves_the_system_prompt_in_the_cache(shared_llm: LlamaCppLLM) -> None:
    assert shared_llm.context_tokens > 20


async def test_chinese_question_gets_a_chinese_reply_in_several_deltas(llm: LlamaCppLLM) -> None:
    deltas = await collect(llm, Message("user", "今天天气不错，适合去公园散步吗？"))
    reply = "".join(deltas)
    assert len(deltas) > 1
    assert len(_HAN.findall(reply)) >= 5, reply


async def test_english_question_gets_an_english_reply(llm: LlamaCppLLM) -> None:
    reply = "".join(await collect(llm, Message("user", "What is a good name for a black cat?")))
    letters = [c for c in reply if c.isalpha()]
    assert len(letters) >= 10, reply
    assert sum(c.isascii() for c in letters) / len(letters) > 0.9, reply


async def test_stop_strings_end_the_reply_before_them(llm: LlamaCppLLM) -> None:
    question = Message("user", "请用阿拉伯数字从1数到10，用逗号隔开。")
    full = "".join(await collect(llm, question))
    assert "5" in full and "7" in full, full  # the model does count past the stop string
    llm.sampling = replace(llm.sampling, stop=("6",))
    stopped = "".join(await collect(llm, question))
    assert "5" in stopped and "6" not in stopped and "7" not in stopped, stopped


async def test_num_predict_caps_the_reply_length(llm: LlamaCppLLM) -> None:
    llm.sampling = replace(llm.sampling, num_predict=6)
    reply = "".join(await collect(llm, Message("user", "Tell me a long story about a dragon and a knight.")))
    assert 1 <= await llm.count_tokens(reply) <= 6, reply


async def test_leaving_the_stream_stops_generation_and_the_next_call_works(llm: LlamaCppLLM) -> None:
    llm.sampling = replace(llm.sampling, num_predict=400)
    prompt_and_cache = llm.context_tokens
    stream = llm.stream_chat([SYSTEM, Message("user", "Write a very long story about a dragon.")])
    received = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    await llm.count_tokens("")  # queued behind the generation job: returns once it has ended
    # Generating all 400 tokens would leave ~400 more tokens in the cache than the prompt needs.
    assert llm.context_tokens < prompt_and_cache + 60 + len(received)

    llm.sampling = replace(llm.sampling, num_predict=24)
    assert "".join(await collect(llm, Message("user", "Say hello in one short sentence.")))


async def test_cancelling_the_consumer_stops_generation(llm: LlamaCppLLM) -> None:
    llm.sampling = replace(llm.sampling, num_predict=400)
    before = llm.context_tokens
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for _ in llm.stream_chat([SYSTEM, Message("user", "写一个很长的关于龙的故事。")]):
            first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await llm.count_tokens("")
    assert llm.context_tokens < before + 60  # a new question and a few tokens, not 400 more


async def test_same_seed_gives_the_same_sampled_reply_from_a_fresh_start() -> None:
    # llama.cpp's numbers depend on how the prompt was split into batches, so reproducibility is
    # promised from the same starting state (a fresh load), as in a re-run of a script or test.
    question = Message("user", "Invent a name for a new kind of fruit and describe it.")

    async def fresh_reply(seed: int) -> str:
        model = LlamaCppLLM(sampling=Sampling(temperature=1.0, num_predict=24, seed=seed, num_ctx=512))
        try:
            return "".join([delta async for delta in model.stream_chat([SYSTEM, question])])
        finally:
            await model.aclose()

    first = await fresh_reply(1234)
    assert first == await fresh_reply(1234)
    assert first != await fresh_reply(4321)  # the seed is really used


async def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 1000)
    llm = LlamaCppLLM(str(broken))
    with pytest.raises(ModelIntegrityError, match="could not load"):
        await llm.load()
    await llm.aclose()


@pytest.mark.parametrize("model", ["no-such-model", "/nonexistent/model.gguf"])
def test_a_bad_model_setting_is_a_config_error(model: str) -> None:
    with pytest.raises(ConfigError, match=r"llm\.model"):
        LlamaCppLLM(model)
