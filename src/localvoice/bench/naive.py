"""The loop most voice-assistant tutorials build, as the baseline for ``streaming_vs_naive``:
wait for the whole LLM reply, split it into sentences on 。！？.!?, synthesize them one by one into a
queue, and play each as soon as it is ready."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from localvoice.events import AudioClip, Message
from localvoice.protocols import LLM, TTS, AudioSink

_SENTENCE_END = re.compile(r"(?<=[。！？.!?])\s*")


def split_sentences(text: str) -> list[str]:
    """Cut after every 。！？.!? (naively: "3.5" is cut too, as in the tutorials)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


async def naive_reply(llm: LLM, tts: TTS, sink: AudioSink, messages: Sequence[Message]) -> str:
    """Speak the reply the naive way; returns the reply text once everything has been played."""
    text = "".join([delta async for delta in llm.stream_chat(messages)])
    ready: asyncio.Queue[AudioClip | None] = asyncio.Queue()

    async def synthesize_all() -> None:
        for sentence in split_sentences(text):
            await ready.put(await tts.synthesize(sentence))
        await ready.put(None)

    async def play_all() -> None:
        while (clip := await ready.get()) is not None:
            if len(clip.samples):
                await sink.enqueue(clip)  # one sentence after the other

    await asyncio.gather(synthesize_all(), play_all())
    return text
