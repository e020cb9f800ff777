"""Smoke runs of every benchmark (seconds, tiny sizes): they keep working; their numbers are not judged.

Each runs as a user would run it (`python -m bench.<name> …`), writes its JSON and markdown result
into a temporary directory, and must account for every operation it was given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.common import RESULTS_ENV
from tests.conftest import POSTGRES_URL, REPO

SMOKE: dict[str, list[str]] = {
    "ceiling": ["--ops", "400"],
    "ingest": ["--ops", "400", "--payments", "100", "--destinations", "5", "--modes", "accounts,network"],
    "latency": ["--rate", "40", "--seconds", "1", "--destinations", "5"],
    "api": ["--seconds", "0.5", "--concurrency", "2,4", "--payments", "50"],
    "scale": [
        "--payments",
        "500",
        "--destinations",
        "20",
        "--idle-seconds",
        "0.5",
        "--rate",
        "50",
        "--load-seconds",
        "1",
        "--budget-destinations",
        "10",
        "--budget-payments",
        "100",
        "--ledger-seconds",
        "0.2",
        "--window",
        "1",
    ],
}


def run_bench(name: str, backend: str, results: Path) -> dict[str, Any]:
    env = {**os.environ, RESULTS_ENV: str(results), "PAYWATCH_BENCH_POSTGRES_URL": POSTGRES_URL}
    completed = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *SMOKE[name], "--backends", backend],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    markdown = (results / f"{name}.md").read_text()
    assert markdown.startswith("Command: `python -m bench."), markdown
    assert "| " in markdown
    data: dict[str, Any] = json.loads((results / f"{name}.json").read_text())
    assert data["benchmark"] == name
    assert data["machine"]["cores"]
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("postgres_template")  # skips (or, in CI, fails) without PostgreSQL
    return str(request.param)


@pytest.mark.slow
def test_ceiling(backend: str, tmp_path: Path) -> None:
    data = run_bench("ceiling", backend, tmp_path)
    assert data["read_parse_per_second"] > 0
    assert data[f"insert_per_second_{backend}"] > 0


@pytest.mark.slow
def test_ingest_commits_every_operation(backend: str, tmp_path: Path) -> None:
    data = run_bench("ingest", backend, tmp_path)
    assert [(r["backend"], r["mode"]) for r in data["runs"]] == [(backend, "accounts"), (backend, "network")]
    for run in data["runs"]:
        assert run["ops_per_second"] > 0
        assert sum(run["statuses"].values()) == 100  # every pending payment is still accounted for


@pytest.mark.slow
def test_latency_sees_every_record_committed_and_every_webhook(backend: str, tmp_path: Path) -> None:
    (run,) = run_bench("latency", backend, tmp_path)["runs"]
    assert run["committed"] == run["records"] == 40
    assert run["stream_to_commit_ms"]["count"] == 40
    assert run["stream_to_webhook_ms"]["count"] == 40


@pytest.mark.slow
def test_api_answers_without_errors(backend: str, tmp_path: Path) -> None:
    (run,) = run_bench("api", backend, tmp_path)["runs"]
    assert [level["concurrency"] for level in run["levels"]] == [2, 4]
    for level in run["levels"]:
        for endpoint in ("get", "initiate"):
            assert level[endpoint]["requests"] > 0
            assert level[endpoint]["errors"] == {}


@pytest.mark.slow
def test_scale_measures_the_watcher_process_and_the_request_budget(backend: str, tmp_path: Path) -> None:
    data = run_bench("scale", backend, tmp_path)
    (resources,) = data["resources"]
    assert resources["exit_status"] == 0  # the watcher stopped cleanly on SIGTERM
    assert resources["idle"]["rss_mb"] > 0
    assert resources["load"]["operations"] == 50
    (requests,) = data["requests"]
    assert requests["mode"] == "network"  # ten streams would not fit the budget
    assert 0 < requests["per_hour"] < requests["one_stream_per_payment_per_hour"]
