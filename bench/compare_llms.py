"""Compare the packaged chat models on the same everyday prompts (see docs/llm_choice.md).

Each model runs in its own process (so peak RAM is its own) through ``LlamaCppLLM``, with the
project's default system prompt, temperature 0.3 and 2 threads. Every prompt is a fresh one-turn
conversation. Prints and saves (JSON) the replies, first-token latency, tokens/s, load time and peak
RSS, plus automatic checks (language, length, lists); whether a reply answers well is judged by a
person reading the saved replies.

    .venv/bin/python bench/compare_llms.py                      # both packaged models
    .venv/bin/python bench/compare_llms.py --model qwen2.5-coder-0.5b --model /path/to/other.gguf
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from localvoice.backends.llm.llama_cpp import PACKAGED_MODELS, LlamaCppLLM
from localvoice.backends.llm.sampling import Sampling
from localvoice.config import DEFAULT_SYSTEM_PROMPT
from localvoice.events import Message

PROMPTS: list[tuple[str, str]] = [
    ("zh", "今天天气挺好的，适合出去走走吗？"),
    ("zh", "煎牛排有什么小窍门？"),
    ("zh", "长城大概有多长？"),
    ("zh", "五公里等于多少英里？"),
    ("zh", "推荐一部适合周末在家看的电影吧。"),
    ("en", "It's raining again today. Any idea to stay cheerful?"),
    ("en", "How do I keep pasta from sticking together?"),
    ("en", "What is the capital of Australia?"),
    ("en", "How many pounds are in five kilograms?"),
    ("en", "Can you recommend a good book for a long flight?"),
]
TEMPERATURE = 0.3
THREADS = 2
NUM_PREDICT = 160
SEED = 42
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LIST_OR_MARKDOWN = re.compile(r"(^|\n)\s*([-*•]|\d+[.、)]|#+)\s|\*\*|`")
_SENTENCE_END = re.compile(r"[。！？!?]|\.(\s|$)")


def checks(language: str, reply: str) -> dict[str, bool]:
    """Automatic checks; "answers the question" is left to the reader."""
    han = len(_HAN.findall(reply))
    letters = sum(c.isascii() and c.isalpha() for c in reply)
    right_language = han > letters if language == "zh" else letters > 0 and han == 0
    return {
        "right_language": right_language,
        "short": len(_SENTENCE_END.findall(reply)) <= 3 and len(reply) <= (120 if language == "zh" else 400),
        "no_list": _LIST_OR_MARKDOWN.search(reply) is None,
    }


async def run_one(model: str) -> dict[str, Any]:
    llm = LlamaCppLLM(
        model,
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        sampling=Sampling(temperature=TEMPERATURE, num_predict=NUM_PREDICT, seed=SEED),
        n_threads=THREADS,
    )
    system = Message("system", DEFAULT_SYSTEM_PROMPT)
    results: list[dict[str, Any]] = []
    try:
        await llm.load()
        for index, (language, prompt) in enumerate(PROMPTS):
            started = time.perf_counter()
            first_token_s: float | None = None
            parts: list[str] = []
            async for delta in llm.stream_chat([system, Message("user", prompt)]):
                if first_token_s is None:
                    first_token_s = time.perf_counter() - started
                parts.append(delta)
            total_s = time.perf_counter() - started
            reply = "".join(parts)
            tokens = await llm.count_tokens(reply)
            decode_s = total_s - (first_token_s or 0.0)
            results.append(
                {
                    "language": language,
                    "prompt": prompt,
                    "reply": reply,
                    # the first prompt also reads the system prompt; later ones reuse it from the cache
                    "system_prompt_cached": index > 0,
                    "first_token_s": round(first_token_s or total_s, 3),
                    "tokens": tokens,
                    "tokens_per_s": round((tokens - 1) / decode_s, 1)
                    if tokens > 1 and decode_s > 0
                    else None,
                    **checks(language, reply),
                }
            )
            print(f"[{model}] {prompt}\n  -> {reply!r} ({first_token_s or 0:.2f} s to first token)")
    finally:
        await llm.aclose()
    return {
        "model": llm.description,
        "load_s": round(llm.load_time_s or 0.0, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "results": results,
    }


def summarize(run: dict[str, Any]) -> str:
    """Medians, since a busy machine makes single calls slow now and then."""
    rows = run["results"]
    cached = statistics.median(r["first_token_s"] for r in rows if r["system_prompt_cached"])
    speed = statistics.median(r["tokens_per_s"] for r in rows if r["tokens_per_s"])
    passed = {
        lang: sum(
            all(r[k] for k in ("right_language", "short", "no_list")) for r in rows if r["language"] == lang
        )
        for lang in ("zh", "en")
    }
    return (
        f"{run['model']}: load {run['load_s']} s, peak RSS {run['peak_rss_mb']} MB, first token: "
        f"{rows[0]['first_token_s']} s cold, median {cached:.2f} s with the system prompt cached; "
        f"median {speed:.1f} tokens/s; automatic checks passed zh {passed['zh']}/5 en {passed['en']}/5"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", action="append", help="packaged name or .gguf path (repeatable)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "compare_llms.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: run one model, JSON on stdout
    args = parser.parse_args()
    if args.one:
        print("JSON " + json.dumps(asyncio.run(run_one(args.one)), ensure_ascii=False))
        return
    runs = []
    for model in args.model or list(PACKAGED_MODELS):
        child = subprocess.run(
            [sys.executable, __file__, "--one", model], capture_output=True, text=True, check=True
        )
        for line in child.stdout.splitlines():
            if line.startswith("JSON "):
                runs.append(json.loads(line[5:]))
            else:
                print(line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(runs, ensure_ascii=False, indent=1), encoding="utf-8")
    for run in runs:
        print(summarize(run))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
