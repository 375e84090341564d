"""The packaged LLM's word on whether the user has finished (backends/llm/end_of_turn.py), for real.

Transcripts as Whisper writes them, punctuation included: the score reads the words, so a full stop
after unfinished words ("我今天去了。") does not make them finished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from localvoice.backends.llm.llama_cpp import LlamaCppLLM
from localvoice.config import ConversationConfig, LLMConfig
from localvoice.conversation import compose_messages
from localvoice.events import Message
from localvoice.now import time_teller

pytestmark = pytest.mark.slow

SYSTEM = LLMConfig().system
THRESHOLD = ConversationConfig().end_of_turn_threshold

FINISHED = [
    "明天北京的天气怎么样？",
    "明天北京的天气怎么样",
    "北京明天会下雨吗",
    "今天是星期几",
    "现在几点了",
    "一加一等于几",
    "给我讲个笑话",
    "帮我讲个故事",
    "停一下。今天天气怎么样？",
    "我想问一下，明天北京的天气怎么样？",
    "What is the capital of France?",
    "What time is it",
    "How are you doing today",
    "What is two plus two?",
    "Tell me a story.",
    "好的",
    "谢谢",
    "不用了",
    "你好",
    "OK thanks",
]
UNFINISHED = [
    "我今天去了。",
    "我想问一下",
    "今天天气",
    "给我讲一个关于",
    "我想去北京然后",
    "你能帮我查一下",
    "我觉得这个",
    "What is the capital of",
    "Tell me a story about",
    "I want to know",
    "I went to the store and",
    "Can you tell me",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llm() -> AsyncIterator[LlamaCppLLM]:
    model = LlamaCppLLM(system_prompt=SYSTEM)
    await model.warm_up()
    yield model
    await model.aclose()


def request(text: str, history: list[Message] | None = None) -> list[Message]:
    """The request a live turn sends, time line included."""
    teller = time_teller(LLMConfig())
    return compose_messages(SYSTEM, history or [], text, teller() if teller is not None else "")


@pytest.mark.asyncio(loop_scope="module")
async def test_finished_and_unfinished_words_fall_either_side_of_the_threshold(llm: LlamaCppLLM) -> None:
    finished = {text: await llm.end_of_turn_probability(request(text)) for text in FINISHED}
    unfinished = {text: await llm.end_of_turn_probability(request(text)) for text in UNFINISHED}
    low = {text: p for text, p in finished.items() if p is None or p < THRESHOLD}
    high = {text: p for text, p in unfinished.items() if p is None or p >= THRESHOLD}
    assert not low, f"finished words judged unfinished: {low}"
    assert not high, f"unfinished words judged finished: {high}"


@pytest.mark.asyncio(loop_scope="module")
async def test_the_score_reads_the_conversation_so_far(llm: LlamaCppLLM) -> None:
    # "去上海" opens a sentence out of the blue, but answers the assistant's question whole.
    history = [
        Message("user", "帮我订一张火车票。"),
        Message("assistant", "好的，您想去哪个城市？"),
    ]
    alone = await llm.end_of_turn_probability(request("去上海"))
    answering = await llm.end_of_turn_probability(request("去上海", history))
    assert alone is not None and answering is not None
    assert answering >= THRESHOLD and answering > 3 * alone


@pytest.mark.asyncio(loop_scope="module")
async def test_the_score_prefills_the_reply(llm: LlamaCppLLM) -> None:
    messages = request("明天北京的天气怎么样？")
    await llm.end_of_turn_probability(messages)
    cached = llm.context_tokens
    prompt = await llm.count_tokens(SYSTEM + messages[-2].content + "明天北京的天气怎么样")
    assert cached >= prompt, "the whole prompt up to the user's words is in the KV cache"
    reply = "".join([piece async for piece in llm.stream_chat(messages)])
    assert reply.strip(), "the reply that follows the score is generated normally"


@pytest.mark.asyncio(loop_scope="module")
async def test_no_prefill_while_a_reply_is_being_generated(llm: LlamaCppLLM) -> None:
    # On a server another session's reply may hold the model: reading this prompt now would only be
    # evicted by it, so the prefill is skipped instead of queued behind the reply.
    story = llm.stream_chat(request("给我讲一个很长的故事。"))
    await anext(story)
    await llm.prefill(request("明天北京的天气怎么样？")[:-1])
    # Queued on the one worker, it would have returned only once the whole story was generated.
    still_generating = llm.generating
    await story.aclose()
    assert still_generating
