"""``localvoice persona create | list | show | use | remove``: Ollama Modelfile personas."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from localvoice.cli.output import notify_stderr
from localvoice.cli.parser import examples
from localvoice.config import Config
from localvoice.errors import BadInputError
from localvoice.persona import store
from localvoice.persona.modelfile import Modelfile, parse_file

BACKENDS = ("auto", "ollama", "embedded")


def add_persona_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "persona",
        help="give the assistant a persona with an Ollama Modelfile (FROM, SYSTEM, PARAMETER, MESSAGE)",
        description="A persona is an Ollama Modelfile. With Ollama it is registered on the server "
        "(like `ollama create`); for the embedded model it is kept locally and applied to every turn.",
        epilog=examples(
            "localvoice persona create tutor -f Modelfile",
            "localvoice persona use tutor",
            "localvoice chat --text --set llm.persona=tutor",
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create",
        help="register a Modelfile under NAME (with Ollama, and locally)",
        description="Parse the Modelfile, upload a local FROM/ADAPTER file to Ollama as a blob when the "
        "server lacks it, create the model through /api/create, and keep the persona locally. With the "
        "embedded backend FROM must be a .gguf file or a packaged model (qwen2.5-coder-1.5b).",
        epilog=examples(
            "localvoice persona create tutor -f Modelfile",
            "localvoice persona create tuned -f out/Modelfile --backend embedded --use",
        ),
    )
    create.add_argument("name", metavar="NAME", help="lower-case letters, digits, '.', '_', '-'")
    create.add_argument("-f", "--file", type=Path, required=True, metavar="MODELFILE", help="the Modelfile")
    create.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="where to register it (auto: Ollama when llm.backend allows and it answers, else embedded)",
    )
    create.add_argument("--use", action="store_true", help="make it the persona in use")
    create.set_defaults(func=run_create)

    listing = actions.add_parser("list", help="show the personas", epilog=examples("localvoice persona list"))
    listing.set_defaults(func=run_list)

    show = actions.add_parser(
        "show", help="print a persona's Modelfile", epilog=examples("localvoice persona show tutor --json")
    )
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="the parsed persona as JSON")
    show.set_defaults(func=run_show)

    use = actions.add_parser(
        "use",
        help="make NAME the persona every conversation uses (llm.persona overrides it)",
        epilog=examples("localvoice persona use tutor", "localvoice persona use --none"),
    )
    use.add_argument("name", nargs="?", metavar="NAME")
    use.add_argument("--none", action="store_true", help="go back to the plain [llm] settings")
    use.set_defaults(func=run_use)

    remove = actions.add_parser(
        "remove",
        help="delete a persona (and its Ollama model)",
        epilog=examples("localvoice persona remove tutor"),
    )
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(func=run_remove)


def run_create(args: argparse.Namespace, config: Config) -> int:
    name = store.check_name(args.name)
    path: Path = args.file
    if not path.is_file():
        raise BadInputError(f"Modelfile {path} does not exist")
    modelfile = parse_file(path)
    base_dir = path.resolve().parent
    embedded_model = _embedded_model(modelfile, base_dir)
    embedded_adapter = ""
    backend = _backend(args.backend, config)
    if backend == "embedded":
        if not embedded_model:
            raise BadInputError(
                f"FROM {modelfile.from_!r} is neither a .gguf file nor a packaged model, so the embedded "
                "backend cannot load it; point FROM at a .gguf file, or register it with Ollama (--backend ollama)"
            )
        embedded_adapter = _embedded_adapter(modelfile, base_dir)
    else:
        from localvoice.persona.ollama_create import OllamaCreator

        creator = OllamaCreator(config.llm.host, notify_stderr)
        try:
            creator.create(name, modelfile, base_dir)
        finally:
            creator.close()
    if backend == "ollama" and embedded_model:  # also usable by the embedded backend when it is a LoRA GGUF
        try:
            embedded_adapter = _embedded_adapter(modelfile, base_dir)
        except BadInputError:
            embedded_model = ""  # Ollama applies that adapter; llama.cpp cannot
    text = path.read_text(encoding="utf-8")
    persona = store.save(name, text, embedded_model, backend == "ollama", embedded_adapter)
    if args.use:
        store.set_active(name)
    print(f"persona {persona.describe()}")
    return 0


def _backend(choice: str, config: Config) -> str:
    if choice != "auto":
        return str(choice)
    if config.llm.backend == "ollama":
        return "ollama"
    if config.llm.backend != "auto":
        return "embedded"
    from localvoice.backends.llm.ollama import ollama_available

    return "ollama" if asyncio.run(ollama_available(config.llm.host)) else "embedded"


def _embedded_model(modelfile: Modelfile, base_dir: Path) -> str:
    """What llama.cpp loads for this FROM: a packaged name, an absolute .gguf path, or "" (neither)."""
    from localvoice.persona.ollama_create import local_path

    if modelfile.from_ in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"):  # llama_cpp.PACKAGED_MODELS
        return modelfile.from_
    path = local_path(modelfile.from_, base_dir)
    if path is not None and path.is_file() and path.suffix.lower() == ".gguf":
        return str(path.resolve())
    return ""


def _embedded_adapter(modelfile: Modelfile, base_dir: Path) -> str:
    """The absolute path of the one LoRA GGUF that llama.cpp applies over FROM; "" without ADAPTER."""
    from localvoice.persona.ollama_create import local_path

    if not modelfile.adapters:
        return ""
    if len(modelfile.adapters) > 1:
        raise BadInputError(
            f"the embedded backend applies one ADAPTER, and this Modelfile has {len(modelfile.adapters)}; "
            "keep one, or register the persona with Ollama (--backend ollama)"
        )
    adapter = modelfile.adapters[0]
    path = local_path(adapter, base_dir)
    if path is None or not path.is_file() or path.suffix.lower() != ".gguf":
        raise BadInputError(
            f"ADAPTER {adapter!r} is not a LoRA .gguf file, which the embedded backend needs; "
            "`localvoice finetune` writes one as DIR/adapter.gguf (or register with --backend ollama)"
        )
    return str(path.resolve())


def run_list(args: argparse.Namespace, config: Config) -> int:
    personas = store.list_personas()
    active = config.llm.persona or store.active_name()
    if not personas:
        print("no personas yet; make one with `localvoice persona create NAME -f Modelfile`")
    for persona in personas:
        print(("* " if persona.name == active else "  ") + persona.describe())
    return 0


def run_show(args: argparse.Namespace, config: Config) -> int:
    persona = store.load(args.name)
    if args.json:
        print(json.dumps(store.asdict_record(persona), ensure_ascii=False, indent=2))
    else:
        from localvoice.persona.modelfile import write

        print(write(persona.modelfile), end="")
    return 0


def run_use(args: argparse.Namespace, config: Config) -> int:
    if args.none == bool(args.name):
        raise BadInputError("give a persona NAME or --none")
    store.set_active(None if args.none else store.check_name(args.name))
    print(f"persona in use: {args.name or 'none'}")
    return 0


def run_remove(args: argparse.Namespace, config: Config) -> int:
    persona = store.load(args.name)
    if persona.on_ollama:
        from localvoice.persona.ollama_create import OllamaCreator

        creator = OllamaCreator(config.llm.host, notify_stderr)
        try:
            creator.delete(persona.name)
        finally:
            creator.close()
    store.remove(persona.name)
    print(f"removed persona {persona.name}")
    return 0
