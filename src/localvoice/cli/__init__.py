"""Command-line interface: ``localvoice`` and its subcommands."""
