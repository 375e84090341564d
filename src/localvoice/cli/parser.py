"""The argument parser's house rules: options that work anywhere, examples in help, one-line errors.

``--config`` and ``--set`` are accepted before the subcommand and after it (``localvoice chat --set
llm.model=x`` is what people type). argparse gives each subcommand a fresh namespace, so each level
keeps its own copy under its own name and ``config_sources`` joins them in command-line order.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

CONFIG_HELP = "TOML config file (default ~/.config/localvoice/config.toml)"
SET_HELP = "override one config value, e.g. --set llm.model=qwen2.5:7b (repeatable; the last one wins)"


class HelpFormatter(argparse.HelpFormatter):
    """Reflows prose like argparse does, but keeps indented lines (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks: list[str] = []
        prose: list[str] = []
        for line in text.splitlines():
            if line.startswith(" ") or not line.strip():
                if prose:
                    blocks.append(super()._fill_text(" ".join(prose), width, indent))
                    prose = []
                blocks.append(indent + line if line.strip() else "")
            else:
                prose.append(line.strip())
        if prose:
            blocks.append(super()._fill_text(" ".join(prose), width, indent))
        return "\n".join(blocks)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line (and exit 2), with the examples kept readable."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def examples(*lines: str) -> str:
    """An epilog listing example command lines."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config``/``--set`` on the top-level parser and, under their own names, on every subcommand."""
    _add(parser, 0)
    _add_below(parser, 1, set())


def _add(parser: argparse.ArgumentParser, depth: int) -> None:
    group = parser.add_argument_group("config options")
    # Below the top level nothing is set unless given, so a subcommand cannot erase the top's values.
    default = None if depth == 0 else argparse.SUPPRESS
    group.add_argument(
        "--config", dest=f"_config_{depth}", type=Path, default=default, metavar="FILE", help=CONFIG_HELP
    )
    group.add_argument(
        "--set",
        dest=f"_set_{depth}",
        action="append",
        default=[] if depth == 0 else argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help=SET_HELP,
    )


def _add_below(parser: argparse.ArgumentParser, depth: int, seen: set[int]) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if id(sub) not in seen:  # an alias names the same parser twice
                    seen.add(id(sub))
                    _add(sub, depth)
                    _add_below(sub, depth + 1, seen)


def config_sources(args: argparse.Namespace) -> tuple[Path | None, list[str]]:
    """The config file (the last ``--config`` given) and every ``--set``, in command-line order."""
    given = vars(args)
    depths = sorted(
        {int(name.rpartition("_")[2]) for name in given if name.startswith(("_config_", "_set_"))}
    )
    path: Path | None = None
    overrides: list[str] = []
    for depth in depths:
        path = given.get(f"_config_{depth}") or path
        overrides.extend(given.get(f"_set_{depth}") or [])
    return path, overrides
