"""The `paywatch` command line (composition root: the only module that imports every part)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    del argv
    print("paywatch: not implemented yet", file=sys.stderr)
    return 1
