"""Keep a chat history inside the model's context window.

Shared by every LLM backend: the newest turns matter most in a spoken conversation, so the oldest
user/assistant turns go first. The system prompt and the newest user message are never dropped; if
they alone overflow the window they are still sent (the server then truncates, which beats sending
nothing).

Token estimate when no tokenizer is given (``estimate_tokens``), chosen to over-count rather than
under-count for Qwen/Llama-style BPE vocabularies:

- every non-ASCII character counts 1 token: Chinese, Japanese, Korean, full-width punctuation and
  emoji (real tokenizers use about 0.6-1 token per Chinese character);
- every ASCII digit counts 1 token (Qwen splits numbers digit by digit);
- the remaining ASCII text counts 1 token per 4 characters, rounded up (English averages about 4.5);
- each message adds ``MESSAGE_OVERHEAD_TOKENS`` for the chat template's role markers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from localvoice.events import Message

MESSAGE_OVERHEAD_TOKENS = 4  # e.g. "<|im_start|>user\n" … "<|im_end|>\n"
_ASCII_CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """A conservative token count for Chinese and English text (see the module docstring)."""
    one_each = 0
    other_ascii = 0
    for char in text:
        if not char.isascii() or char.isdigit():
            one_each += 1
        else:
            other_ascii += 1
    return one_each + -(-other_ascii // _ASCII_CHARS_PER_TOKEN)


def trim_history(
    messages: Sequence[Message],
    num_ctx: int,
    count_tokens: Callable[[str], int] | None = None,
    reserve_tokens: int = 512,
) -> list[Message]:
    """Drop the oldest turns until the prompt fits in ``num_ctx - reserve_tokens`` tokens.

    A turn is a user message with the assistant replies after it; turns are kept or dropped whole,
    and only the oldest go (a gap in the middle would confuse the model). ``reserve_tokens`` leaves
    room for the reply itself.
    """
    count = count_tokens or estimate_tokens
    budget = num_ctx - reserve_tokens

    def cost(group: Sequence[Message]) -> int:
        return sum(count(m.content) + MESSAGE_OVERHEAD_TOKENS for m in group)

    head: list[Message] = []
    rest = list(messages)
    if rest and rest[0].role == "system":
        head, rest = rest[:1], rest[1:]
    turns = _group_turns(rest)
    if not turns:
        return head

    # The newest turn holds the newest user message: always kept, whatever it costs.
    kept = [turns[-1]]
    used = cost(head) + cost(turns[-1])
    for turn in reversed(turns[:-1]):
        used += cost(turn)
        if used > budget:
            break
        kept.append(turn)
    return head + [m for turn in reversed(kept) for m in turn]


def _group_turns(messages: Sequence[Message]) -> list[list[Message]]:
    """Split into turns, each starting at a user message (leading non-user messages form one turn).

    A system message just before a user message (the turn's time line) belongs to that user's turn.
    """
    turns: list[list[Message]] = []
    for message in messages:
        opens_turn = message.role in ("user", "system")
        if message.role == "user" and turns and all(m.role == "system" for m in turns[-1]):
            turns[-1].append(message)
        elif opens_turn or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def merge_system_messages(messages: Sequence[Message]) -> list[Message]:
    """One system message, first: for servers whose chat template rejects a system message later on
    (Mistral's and Gemma's templates do). Later system text joins the first, in order."""
    system = [m.content for m in messages if m.role == "system" and m.content]
    rest = [m for m in messages if m.role != "system"]
    return [Message("system", "\n".join(system)), *rest] if system else rest
