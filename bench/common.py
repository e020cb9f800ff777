"""Shared benchmark plumbing: machine description, timing, and writing results (JSON + markdown)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

RESULTS_ENV = "PAYWATCH_BENCH_RESULTS"  # where results go (the smoke tests point it at a temporary directory)


def results_dir() -> Path:
    directory = Path(os.environ.get(RESULTS_ENV) or Path(__file__).with_name("results"))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    postgres = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        postgres = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "postgres": postgres,
        "platform": platform.platform(),
    }


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_result(name: str, data: dict[str, Any], markdown: str, *, command: str) -> Path:
    """bench/results/<name>.json and .md (the markdown carries the command and the machine)."""
    results = results_dir()
    data = {
        "benchmark": name,
        "command": command,
        "machine": machine(),
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        **data,
    }
    (results / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    info = data["machine"]
    header = (
        f"Command: `{command}`  \n"
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}, "
        f"SQLite {info['sqlite']}, {info['postgres']}  \nRun: {data['at']}\n\n"
    )
    path = results / f"{name}.md"
    path.write_text(header + markdown + "\n")
    return path


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.started


def log_to_file(name: str, level: str = "info") -> Path:
    """The watcher's logs as in production (JSON at `level`), kept out of the benchmark's output."""
    from shared.logging import configure

    path = results_dir() / f"{name}.log"
    configure(level, "json", stream=path.open("w", encoding="utf-8"))
    return path
