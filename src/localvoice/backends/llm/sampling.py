"""The sampling and context settings every LLM backend takes from ``[llm]``, as one value, and how
each HTTP protocol spells them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localvoice.config import LLMConfig

# Room kept for the reply when trimming history and num_predict is unlimited.
UNLIMITED_REPLY_RESERVE_TOKENS = 512


@dataclass(frozen=True, slots=True)
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.9
    num_ctx: int = 4096
    num_predict: int = 256  # -1: no limit
    seed: int = -1  # -1: a fresh random seed each reply
    stop: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, llm: LLMConfig) -> Sampling:
        return cls(
            temperature=llm.temperature,
            top_p=llm.top_p,
            num_ctx=llm.num_ctx,
            num_predict=llm.num_predict,
            seed=llm.seed,
            stop=tuple(llm.stop),
        )

    @property
    def reserve_tokens(self) -> int:
        """Tokens kept free for the reply when the history is trimmed to the context."""
        return self.num_predict if self.num_predict > 0 else UNLIMITED_REPLY_RESERVE_TOKENS

    def ollama_options(self) -> dict[str, Any]:
        """Ollama's ``options``: all of them, -1 included (Ollama reads it as "unlimited"/"random")."""
        options: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "num_ctx": self.num_ctx,
            "num_predict": self.num_predict,
            "seed": self.seed,
        }
        return options | ({"stop": list(self.stop)} if self.stop else {})

    def openai_fields(self) -> dict[str, Any]:
        """Only what the user set: -1 means "the server's default", which OpenAI expresses by omission."""
        fields: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p}
        if self.num_predict >= 0:
            fields["max_tokens"] = self.num_predict
        if self.seed != -1:
            fields["seed"] = self.seed
        if self.stop:
            fields["stop"] = list(self.stop)
        return fields


DEFAULT_SAMPLING = Sampling()
