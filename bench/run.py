"""``python bench/run.py [SCENARIO…] [--json OUT] [--runs N] [--out-dir DIR]`` == ``localvoice bench …``."""

from __future__ import annotations

import sys

from localvoice.cli.bench_cmd import main

if __name__ == "__main__":
    sys.exit(main())
