"""libFuzzer (atheris) driving `tests/fuzz_horizon_bytes.one_input`, with coverage of paywatch's own
code only: instrumenting every loaded module (aiohttp, SQLAlchemy, …) takes minutes.

    make fuzz-atheris ATHERIS_SECONDS=600      # installs atheris into .venv on first use
    .venv/bin/python -m tests.fuzz_atheris -max_total_time=600 [corpus-dir] [libFuzzer flags]

Without a corpus directory it starts from the seeds of `fuzz_horizon_bytes.seeds()` in a new
temporary directory, which libFuzzer grows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris  # type: ignore[import-not-found]  # installed by `make fuzz-atheris` only

with atheris.instrument_imports(include=["shared", "watcher"]):
    from tests import fuzz_horizon_bytes


def main(argv: list[str]) -> None:
    if not [arg for arg in argv[1:] if not arg.startswith("-")]:
        directory = Path(tempfile.mkdtemp(prefix="paywatch-fuzz-"))
        for number, seed in enumerate(fuzz_horizon_bytes.seeds()):
            (directory / f"seed-{number}").write_bytes(seed)
        argv = [*argv, str(directory)]
    atheris.Setup(argv, fuzz_horizon_bytes.one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
