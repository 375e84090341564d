"""The sampling and context settings every LLM backend takes from ``[llm]`` in the same way."""

from __future__ import annotations

from typing import TypedDict

from localvoice.config import LLMConfig


class SamplingOptions(TypedDict):
    temperature: float
    num_ctx: int
    top_p: float
    num_predict: int
    seed: int
    stop: list[str]


def sampling_options(llm: LLMConfig) -> SamplingOptions:
    return SamplingOptions(
        temperature=llm.temperature,
        num_ctx=llm.num_ctx,
        top_p=llm.top_p,
        num_predict=llm.num_predict,
        seed=llm.seed,
        stop=list(llm.stop),
    )
