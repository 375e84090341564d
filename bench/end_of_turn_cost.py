"""What the LLM's end-of-turn score costs, with and without reading the request while the user talks.

Runs a short conversation on the packaged Qwen2.5-Coder-1.5B (llama.cpp) as the live loop does: each
turn has a new time line, then the user's words are scored, then the reply starts. Every other turn
first calls ``prefill`` (what the live loop does at speech onset), so both conditions alternate in one
process on the same growing history. Prints, per condition, the median of: the prefill, the score, and
the reply's first token after the score.

    .venv/bin/python bench/end_of_turn_cost.py [--turns 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from localvoice.backends.llm.llama_cpp import LlamaCppLLM
from localvoice.config import LLMConfig
from localvoice.conversation import compose_messages
from localvoice.events import Message
from localvoice.now import time_teller

QUESTIONS = [
    "明天北京的天气怎么样？",
    "What is the capital of France?",
    "给我讲个笑话",
    "现在几点了",
    "一加一等于几",
]


async def run(turns: int) -> None:
    config = LLMConfig()
    teller = time_teller(config)
    llm = LlamaCppLLM(system_prompt=config.system)
    await llm.warm_up()
    history: list[Message] = []
    rows: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    try:
        for number in range(turns):
            question = QUESTIONS[number % len(QUESTIONS)]
            # A time line unlike the previous one, as when a new minute starts between turns.
            now_line = (teller() if teller is not None else "") + f" ({number})"
            messages = compose_messages(config.system, history, question, now_line)
            prefilled = number % 2 == 0
            started = time.perf_counter()
            if prefilled:
                await llm.prefill(messages[:-1])
            asked = time.perf_counter()
            await llm.end_of_turn_probability(messages)
            scored = time.perf_counter()
            reply = ""
            first_token = 0.0
            async for piece in llm.stream_chat(messages):
                first_token = first_token or time.perf_counter()
                reply += piece
                if len(reply) > 40:
                    break
            while llm.generating:  # the cut reply stops on the worker within a token
                await asyncio.sleep(0.01)
            rows[prefilled].append((asked - started, scored - asked, first_token - scored))
            history += [messages[-2], messages[-1], Message("assistant", reply)]
    finally:
        await llm.aclose()
    print("condition            prefill ms  score ms  first token after score ms  (medians)")
    for prefilled, label in ((True, "prefill at onset"), (False, "no prefill")):
        columns = list(zip(*rows[prefilled], strict=True))
        medians = [statistics.median(column) * 1000 for column in columns]
        print(
            f"{label:<20} {medians[0]:>10.0f} {medians[1]:>9.0f} {medians[2]:>27.0f}  (n={len(rows[prefilled])})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=10)
    asyncio.run(run(parser.parse_args().turns))


if __name__ == "__main__":
    main()
