"""``localvoice finetune DATA --base BASE --out DIR``: LoRA on your own Q&A, merged, ready to chat with."""

from __future__ import annotations

import argparse
from pathlib import Path

from localvoice.cli.output import notify_stderr
from localvoice.cli.parser import examples
from localvoice.config import Config
from localvoice.errors import BadInputError, MissingExtraError
from localvoice.persona.dataset import load_dataset
from localvoice.persona.export import QUANTS

INSTALL_HINT = "pip install 'localvoice[finetune]'"


def add_finetune_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune the LLM on your own Q&A (LoRA), for Ollama or the embedded model",
        description="DATA is JSONL or a JSON list of rows: the course's {role, content, response}, chat "
        "rows {messages: [...]}, or {instruction, input, output}. Every row is checked first (bad rows "
        "by line number). BASE is a Hugging Face model folder, a .gguf file, or packaged:NAME. Training "
        "needs the finetune extra (torch, transformers, peft).",
        epilog=examples(
            "localvoice finetune examples/learning_platform_qa.jsonl --check",
            "localvoice finetune examples/learning_platform_qa.jsonl --base packaged:qwen2.5-coder-0.5b "
            "--out tuned --epochs 3",
        ),
    )
    parser.add_argument("data", type=Path, nargs="?", metavar="DATA", help="the Q&A rows (.jsonl or .json)")
    parser.add_argument(
        "--setup-converter",
        action="store_true",
        help="fetch llama.cpp's GGUF converter from the llama-cpp-python source package (once)",
    )
    parser.add_argument("--check", action="store_true", help="only validate DATA and show the split")
    parser.add_argument("--base", metavar="BASE", help="HF model folder, .gguf file or packaged:NAME")
    parser.add_argument("--out", type=Path, metavar="DIR", help="where the adapter and merged model go")
    parser.add_argument("--epochs", type=float, default=3.0, help="passes over the data (default 3)")
    parser.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    parser.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default 8)")
    parser.add_argument("--batch-size", type=int, default=4, help="conversations per step (default 4)")
    parser.add_argument("--eval-split", type=float, default=0.1, help="held-out fraction (default 0.1)")
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    parser.add_argument("--seed", type=int, default=0, help="shuffling, LoRA init and split seed")
    parser.add_argument("--system", default="", help="system prompt for the written Modelfile")
    parser.add_argument(
        "--quant",
        choices=QUANTS,
        default=QUANTS[0],
        help="the GGUF's type: q8_0 (default), q4_k_m (smaller, via llama.cpp's quantiser) or f16",
    )
    parser.add_argument(
        "--ollama-create", metavar="NAME", help="register the tuned model with Ollama as NAME"
    )
    parser.add_argument("--persona", metavar="NAME", help="make the tuned GGUF the embedded persona NAME")
    parser.set_defaults(func=run_finetune)


def run_finetune(args: argparse.Namespace, config: Config) -> int:
    if args.setup_converter:
        from localvoice.persona.export import setup_converter

        print(f"converter ready: {setup_converter(notify_stderr)}")
        if args.data is None:
            return 0
    if args.data is None:
        raise BadInputError("give DATA, the Q&A rows to fine-tune on (or --setup-converter)")
    if not args.data.is_file():
        raise BadInputError(f"{args.data} does not exist; give a .jsonl or .json file of Q&A rows")
    dataset = load_dataset(args.data, eval_fraction=args.eval_split, seed=args.seed)
    print(f"{args.data}: {dataset.summary()}")
    if args.check:
        return 0
    if not args.base or args.out is None:
        raise BadInputError("training needs --base BASE and --out DIR (or --check to only validate DATA)")
    for name, value in (("--epochs", args.epochs), ("--lr", args.lr), ("--lora-r", args.lora_r)):
        if value <= 0:
            raise BadInputError(f"{name} must be above 0, not {value}")
    if not dataset.train:
        raise BadInputError(f"{args.data} leaves no rows to train on after the eval split")
    try:
        from localvoice.persona import finetune
    except ImportError as error:
        raise MissingExtraError(f"fine-tuning needs {error.name or 'torch'}: {INSTALL_HINT}") from None
    settings = finetune.TrainSettings(
        epochs=args.epochs,
        lr=args.lr,
        lora_r=args.lora_r,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        seed=args.seed,
        quant=args.quant,
    )
    result = finetune.run(args.base, dataset, args.out, settings, notify=notify_stderr, system=args.system)
    print(result.report())
    _register(args, config, args.out)
    return 0


def _register(args: argparse.Namespace, config: Config, out: Path) -> None:
    """--ollama-create / --persona: the written Modelfile, as ``persona create`` would take it."""
    if not (args.ollama_create or args.persona):
        return
    from localvoice.persona import store
    from localvoice.persona.modelfile import parse_file

    path = out / "Modelfile"
    modelfile = parse_file(path)
    if args.ollama_create:
        from localvoice.persona.ollama_create import OllamaCreator

        creator = OllamaCreator(config.llm.host, notify_stderr)
        try:
            creator.create(store.check_name(args.ollama_create), modelfile, out)
        finally:
            creator.close()
        store.save(args.ollama_create, path.read_text(encoding="utf-8"), "", on_ollama=True)
        print(f"registered with Ollama as {args.ollama_create}")
    if args.persona:
        gguf = out / "model.gguf"
        if not gguf.is_file():
            raise BadInputError("--persona needs a GGUF: run `localvoice finetune --setup-converter` first")
        store.save(
            store.check_name(args.persona), path.read_text(encoding="utf-8"), str(gguf.resolve()), False
        )
        store.set_active(args.persona)
        print(f"persona in use: {args.persona} (localvoice chat now speaks with the tuned model)")
