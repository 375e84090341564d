"""LoRA fine-tuning on the base model's own chat template, with the loss on the assistant's tokens only.

The base is a Hugging Face folder, or a GGUF that transformers loads de-quantised (so the packaged model
is itself a base, offline). Training is a plain seeded AdamW loop over padded batches (CPU, or CUDA in
bf16 where supported); the eval loss is measured on the held-out rows before and after, and a few
held-out questions are answered by the base and by the tuned model side by side. DIR gets the adapter
(``adapter/``), the merged model (``merged/``), then a GGUF and a Modelfile when the converter is there
(``export.py``).
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from localvoice.errors import BadInputError
from localvoice.persona.dataset import Dataset, Example, Turn

Notify = Callable[[str], None]
IGNORE = -100  # label of tokens that carry no loss (prompt, system, padding)
SIDE_BY_SIDE = 3


@dataclass(frozen=True, slots=True)
class TrainSettings:
    epochs: float = 3.0
    lr: float = 2e-4
    lora_r: int = 8
    batch_size: int = 4
    max_steps: int = 0  # 0: no limit
    seed: int = 0
    max_length: int = 512  # tokens per conversation; longer ones are cut (their end carries the answer)
    new_tokens: int = 64  # for the side-by-side answers
    quant: str = "q8_0"  # the GGUF's type: q8_0, q4_k_m or f16 (export.QUANTS)


@dataclass
class TrainResult:
    out: Path
    steps: int
    seconds: float  # the whole run: load, eval, training, answers, merge, export
    eval_before: float | None
    eval_after: float | None
    train_losses: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    answers: list[tuple[str, str, str]] = field(default_factory=list)  # question, base, tuned
    files: list[Path] = field(default_factory=list)

    def report(self) -> str:
        per_step = self.train_seconds / max(self.steps, 1)
        lines = [
            f"trained {self.steps} steps in {self.train_seconds:.1f} s ({per_step:.2f} s a step); "
            f"whole run {self.seconds:.1f} s"
        ]
        if self.eval_before is not None and self.eval_after is not None:
            lines.append(f"held-out loss {self.eval_before:.3f} → {self.eval_after:.3f}")
        for question, base, tuned in self.answers:
            lines += [f"Q: {question}", f"  base:  {base}", f"  tuned: {tuned}"]
        lines += [f"wrote {path}" for path in self.files]
        return "\n".join(lines)


def resolve_base(base: str) -> tuple[str, str | None]:
    """``(folder, gguf_file)`` for transformers' ``from_pretrained``."""
    if base.startswith("packaged:"):
        from localvoice.models.packaged import ensure_model

        path = ensure_model(base.removeprefix("packaged:"))
        return str(path.parent), path.name
    path = Path(base).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return str(path.parent), path.name
    if path.is_dir() and (path / "config.json").is_file():
        return str(path), None
    raise BadInputError(
        f"--base {base!r} is not a Hugging Face model folder (with config.json), a .gguf file, or packaged:NAME"
    )


def pick_device() -> tuple[str, torch.dtype]:
    """CUDA when torch sees a GPU (bf16 where the GPU has it, else float32), the CPU in float32 otherwise."""
    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return "cpu", torch.float32


def load_base(base: str, device: str, dtype: torch.dtype) -> tuple[Any, PreTrainedTokenizerBase]:
    folder, gguf = resolve_base(base)
    kwargs: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    if not tokenizer.chat_template:
        raise BadInputError(f"--base {base} has no chat template; fine-tune a chat (instruct) model")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kwargs)
    return model.to(device), tokenizer


def _ids(tokenizer: PreTrainedTokenizerBase, turns: Sequence[Turn], prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(list(turns), tokenize=False, add_generation_prompt=prompt)
    return list(tokenizer(str(text), add_special_tokens=False)["input_ids"])


def encode(
    tokenizer: PreTrainedTokenizerBase, example: Example, max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids of the whole conversation and labels that keep only the assistant's replies."""
    turns = example.turns()
    ids = _ids(tokenizer, turns, prompt=False)
    labels = [IGNORE] * len(ids)
    for index, turn in enumerate(turns):
        if turn["role"] != "assistant":
            continue
        start = len(_ids(tokenizer, turns[:index], prompt=True))
        end = len(_ids(tokenizer, turns[: index + 1], prompt=False))
        labels[start:end] = ids[start:end]
    return ids[-max_length:], labels[-max_length:]


def _batch(rows: Sequence[tuple[list[int], list[int]]], pad: int, device: str) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = [row + [pad] * (width - len(row)) for row, _ in rows]
    labels = [row + [IGNORE] * (width - len(row)) for _, row in rows]
    mask = [[1] * len(row) + [0] * (width - len(row)) for row, _ in rows]
    return {
        "input_ids": torch.tensor(ids, device=device),
        "labels": torch.tensor(labels, device=device),
        "attention_mask": torch.tensor(mask, device=device),
    }


@torch.no_grad()
def mean_loss(model: Any, rows: Sequence[tuple[list[int], list[int]]], pad: int, device: str) -> float:
    """The loss per assistant token over ``rows``."""
    model.eval()
    total, tokens = 0.0, 0
    for row in rows:
        batch = _batch([row], pad, device)
        count = int((batch["labels"][:, 1:] != IGNORE).sum())
        if count:
            total += float(model(**batch).loss) * count
            tokens += count
    return total / tokens if tokens else math.nan


@torch.no_grad()
def answer(model: Any, tokenizer: PreTrainedTokenizerBase, turns: Sequence[Turn], new_tokens: int) -> str:
    model.eval()
    ids = torch.tensor([_ids(tokenizer, turns, prompt=True)], device=model.device)
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)).strip()


def run(
    base: str,
    dataset: Dataset,
    out: Path,
    settings: TrainSettings,
    notify: Notify,
    system: str = "",
) -> TrainResult:
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    device, dtype = pick_device()
    started = time.monotonic()
    notify(f"loading {base} on {device} ({str(dtype).removeprefix('torch.')})")
    model, tokenizer = load_base(base, device, dtype)
    pad = int(tokenizer.pad_token_id)
    train = [encode(tokenizer, e, settings.max_length) for e in dataset.train]
    held = [encode(tokenizer, e, settings.max_length) for e in dataset.eval]
    lora = LoraConfig(
        r=settings.lora_r,
        lora_alpha=2 * settings.lora_r,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    eval_before = mean_loss(model, held, pad, device) if held else None
    questions = [e.turns()[:-1] for e in dataset.eval[:SIDE_BY_SIDE]]
    before = [answer(model, tokenizer, q, settings.new_tokens) for q in questions]

    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    steps = max(1, round(steps_per_epoch * settings.epochs))
    if settings.max_steps:
        steps = min(steps, settings.max_steps)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    training_started = time.monotonic()
    losses = _train(model, optimizer, train, steps, settings, pad, device)
    train_seconds = time.monotonic() - training_started

    eval_after = mean_loss(model, held, pad, device) if held else None
    after = [answer(model, tokenizer, q, settings.new_tokens) for q in questions]
    result = TrainResult(out, steps, 0.0, eval_before, eval_after, losses, train_seconds)
    result.answers = [(q[-1]["content"], b, a) for q, b, a in zip(questions, before, after, strict=True)]
    result.files = save(model, tokenizer, out, notify, base_folder=Path(resolve_base(base)[0]))
    from localvoice.persona.export import export_gguf

    result.files += export_gguf(out, dataset, system, notify, settings.quant)
    result.seconds = time.monotonic() - started
    return result


def _train(
    model: Any,
    optimizer: torch.optim.Optimizer,
    rows: list[tuple[list[int], list[int]]],
    steps: int,
    settings: TrainSettings,
    pad: int,
    device: str,
) -> list[float]:
    order: list[int] = []
    shuffler = random.Random(settings.seed)
    losses: list[float] = []
    model.train()
    columns = (
        TextColumn("LoRA"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} loss {task.fields[loss]}"),
    )
    with Progress(*columns, TimeRemainingColumn(), transient=False) as progress:
        task = progress.add_task("train", total=steps, loss="…")
        for _ in range(steps):
            if len(order) < settings.batch_size:
                more = list(range(len(rows)))
                shuffler.shuffle(more)
                order += more
            picked, order = order[: settings.batch_size], order[settings.batch_size :]
            loss = model(**_batch([rows[i] for i in picked], pad, device)).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            progress.update(task, advance=1, loss=f"{losses[-1]:.3f}")
    return losses


def save(
    model: PeftModel, tokenizer: PreTrainedTokenizerBase, out: Path, notify: Notify, base_folder: Path
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    adapter, merged = out / "adapter", out / "merged"
    model.save_pretrained(str(adapter))
    notify(f"merging the adapter into {merged}")
    full = model.merge_and_unload()
    if getattr(full, "hf_quantizer", None) is not None:
        # A GGUF base: transformers de-quantised it on load, so the weights are plain floats, but it
        # still marks the model as "quantised with gguf" and refuses to save it.
        full.hf_quantizer = None
        full.config.__dict__.pop("quantization_config", None)
    full.to(torch.float32).save_pretrained(str(merged))
    tokenizer.save_pretrained(str(merged))
    # transformers 5 saves tokenizer.json only; llama.cpp's converter reads a sentencepiece vocabulary
    # from tokenizer.model (its tokenizer.json route rejects pre-tokenizers it does not know).
    spm = base_folder / "tokenizer.model"
    if spm.is_file() and not (merged / spm.name).exists():
        shutil.copy2(spm, merged / spm.name)
    return [adapter, merged]
