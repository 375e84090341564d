"""The embedded LLM's own guess whether the user has finished: one short forward pass.

The idea behind LiveKit's turn detector, without a second model: lay the conversation out in the
model's chat template, stop right after the user's words, and read how likely the model's next token
closes the user's message. Whisper's trailing punctuation is taken off first, so the words decide, not
where the ASR put a full stop: the closing token or a sentence-final mark then both count as "done"
("明天北京的天气怎么样" → "？" 0.91; "我想问一下" → "，" 0.46 and done 0.001).

The pass evaluates exactly the prompt the reply will send, up to the user's last word, so llama.cpp's
prefix cache keeps it: when the turn does end, the reply reads only the few tokens after it.
Everything here runs on the llama.cpp executor thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, Final, cast

import llama_cpp
import numpy as np
from llama_cpp import llama_chat_format

from localvoice.events import Message

# What Whisper may put after the last word; the words are judged without it.
_TRAILING_MARKS: Final = " \t\n。．.！!？?，,、；;：:…~～"
# Tokens that finish a sentence: with the template's end-of-message token they mean "the user is done".
_FINAL_MARKS: Final = ("。", "？", "！", "?", ".", "!", "？\n", "。\n", "?\n", ".\n", "!\n")


def words_only(text: str) -> str:
    """The user's words without the punctuation the ASR put at their end."""
    return text.rstrip(_TRAILING_MARKS)


def end_of_turn_probability(llama: Any, messages: Sequence[Message]) -> float | None:
    """P(the user's message ends here), from one forward pass; None when the model can't tell."""
    *before, last = messages
    words = words_only(last.content)
    if last.role != "user" or not words:
        return None
    prompt = _prompt_up_to(llama, before, words)
    if prompt is None:
        return None
    _evaluate(llama, prompt + words)
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),))
    shifted = np.exp(logits.astype(np.float64) - float(np.max(logits)))
    probabilities = shifted / shifted.sum()
    return float(sum(probabilities[token] for token in _done_tokens(llama)))


def prefill_before_user(llama: Any, history: Sequence[Message]) -> None:
    """Evaluate the next turn's prompt up to where the user's words will go (while the user talks)."""
    prompt = _prompt_up_to(llama, history, _MARK)
    if prompt is not None:
        _evaluate(llama, prompt)


_MARK: Final = "<localvoice-user-words>"  # stands for the user's words while laying out the template


def _prompt_up_to(llama: Any, before: Sequence[Message], words: str) -> str | None:
    """The chat prompt for ``before`` + a user message ``words``, cut just before those words."""
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    chat = [m.to_api() for m in before] + [{"role": "user", "content": words}]
    prompt = _formatter(llama, template)(messages=cast(Any, chat)).prompt
    cut = prompt.rfind(words)
    return prompt[:cut] if cut >= 0 else None  # < 0: a template that rewrites the user's text


def _evaluate(llama: Any, prompt: str) -> None:
    """Bring the KV cache to exactly ``prompt``, reading only what follows the cached prefix."""
    tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    if not tokens:
        return
    # llama-cpp-python's own rule in ``generate``; at least one token is evaluated so the logits
    # belong to this prompt.
    kept = min(llama.longest_token_prefix(llama._input_ids, tokens), len(tokens) - 1)
    llama.n_tokens = kept
    llama.eval(tokens[kept:])


def _formatter(llama: Any, template: str) -> llama_chat_format.Jinja2ChatFormatter:
    """The chat template llama-cpp-python itself uses for this model (the GGUF's own)."""
    return _formatter_for(
        template,
        _token_text(llama, llama.token_eos()),
        _token_text(llama, llama.token_bos()),
    )


@cache
def _formatter_for(template: str, eos: str, bos: str) -> llama_chat_format.Jinja2ChatFormatter:
    return llama_chat_format.Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)


def _done_tokens(llama: Any) -> frozenset[int]:
    """The end-of-message token(s) and the single-token sentence-final marks of this vocabulary."""
    cached: frozenset[int] | None = getattr(llama, "_localvoice_done_tokens", None)
    if cached is not None:
        return cached
    done = {llama.token_eos()}
    end_of_message = llama.tokenize(b"<|im_end|>", add_bos=False, special=True)
    if len(end_of_message) == 1:
        done.add(end_of_message[0])
    for mark in _FINAL_MARKS:
        ids = llama.tokenize(mark.encode("utf-8"), add_bos=False, special=False)
        if len(ids) == 1:
            done.add(ids[0])
    found = frozenset(token for token in done if token >= 0)
    llama._localvoice_done_tokens = found
    return found


def _token_text(llama: Any, token: int) -> str:
    return str(llama._model.token_get_text(token)) if token != -1 else ""
