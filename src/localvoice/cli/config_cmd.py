"""``localvoice config show``: the effective configuration after file, environment and --set."""

from __future__ import annotations

import argparse

from localvoice.cli.parser import examples
from localvoice.config import Config, default_config_path, to_toml


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "config",
        help="show the effective configuration",
        description="Show the configuration in effect after the config file, the environment and --set.",
        epilog=examples("localvoice config show", "localvoice config show --set llm.model=qwen2.5:7b"),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show",
        help="print the effective config as TOML",
        description=f"Print the effective config (defaults < {default_config_path()} < LOCALVOICE_* "
        "environment < --set) as TOML, ready to save as a config file.",
        epilog=examples(f"localvoice config show > {default_config_path()}"),
    )
    show.set_defaults(func=show_config)


def show_config(args: argparse.Namespace, config: Config) -> int:
    print(to_toml(config), end="")
    return 0
