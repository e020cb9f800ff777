"""Deployment files: the systemd units pass `systemd-analyze verify`, their security exposure is the
one docs/deploy.md records, and the alert rules and dashboard only use series paywatch exposes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "deploy" / "systemd"
UNIT_NAMES = ("paywatch-watcher.service", "paywatch-api.service")
INSTALLED_PAYWATCH = "/opt/paywatch/venv/bin/paywatch"


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        message = "systemd-analyze not found (Debian package `systemd`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI requires it (.ci/run installs it)")
        pytest.skip(message)
    return path


@pytest.fixture
def units(tmp_path: Path) -> list[Path]:
    """Copies whose ExecStart= is this checkout's `paywatch` (verify wants an executable there)."""
    paywatch = Path(sys.executable).parent / "paywatch"
    assert paywatch.is_file(), "the venv's paywatch entry point (make installs it)"
    copies = []
    for name in UNIT_NAMES:
        text = (UNITS / name).read_text()
        assert f"ExecStart={INSTALLED_PAYWATCH} " in text
        copy = tmp_path / name
        copy.write_text(text.replace(INSTALLED_PAYWATCH, str(paywatch)))
        copies.append(copy)
    return copies


def directives(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_units_pass_systemd_analyze_verify(units: list[Path]) -> None:
    result = subprocess.run(
        [systemd_analyze(), "verify", *map(str, units)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # warnings (unknown keys, bad values) count too


def test_units_are_notify_services_sharing_state_and_credentials() -> None:
    watcher, api = (directives(name) for name in UNIT_NAMES)
    for unit, command in ((watcher, "watch"), (api, "api")):
        assert unit["Type"] == ["notify"]
        assert unit["ExecStart"] == [f"{INSTALLED_PAYWATCH} {command} --config /etc/paywatch/config.toml"]
        assert unit["Restart"] == ["on-failure"]
        assert unit["RestartPreventExitStatus"] == ["78"]
        assert unit["User"] == ["paywatch"]
        assert unit["StateDirectory"] == ["paywatch"]  # one directory: the SQLite file, -wal and -shm
        assert unit["LoadCredential"] == ["paywatch:/etc/paywatch/credentials"]
        for hardening in ("ProtectSystem", "NoNewPrivileges", "PrivateTmp", "SystemCallFilter"):
            assert hardening in unit
    assert watcher["WatchdogSec"] == ["60s"]


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_security_exposure_is_the_one_documented(units: list[Path], name: str) -> None:
    (unit,) = [path for path in units if path.name == name]
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    measured = re.search(rf"Overall exposure level for {re.escape(name)}: (\d+\.\d+)", result.stdout)
    assert measured is not None, result.stdout[-500:]
    documented = re.search(
        rf"^\| `{re.escape(name)}` \| (\d+\.\d+) ", (REPO / "docs" / "deploy.md").read_text(), re.MULTILINE
    )
    assert documented is not None, f"docs/deploy.md has no exposure row for {name}"
    assert measured.group(1) == documented.group(1)


def exposed_series() -> set[str]:
    """The series README's metrics table documents (including those of the webhook dispatcher)."""
    section = (REPO / "README.md").read_text().split("### Metrics", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `(paywatch_\w+)`", section, re.MULTILINE))


def used_series(text: str) -> set[str]:
    used = set(re.findall(r"\bpaywatch_\w+", text))
    return {re.sub(r"_(bucket|count|sum)$", "", name) for name in used}


def test_alert_rules_use_documented_series() -> None:
    rules = (REPO / "deploy" / "prometheus" / "alerts.yml").read_text()
    expressions = "\n".join(re.findall(r"^\s+expr: (.*(?:\n\s{10}\S.*)*)", rules, re.MULTILINE))
    assert used_series(expressions) - exposed_series() == set()
    alerts = re.findall(r"^\s+- alert: (\w+)$", rules, re.MULTILINE)
    for needed in (
        "PaywatchWatcherDown",
        "PaywatchLedgerLag",
        "PaywatchStreamErrors",
        "PaywatchWebhookBacklog",
    ):
        assert needed in alerts
    assert rules.count("expr:") == len(alerts) == rules.count("severity:") == rules.count("summary:")


def test_dashboard_uses_documented_series() -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "paywatch.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(expressions) >= 15
    assert used_series("\n".join(expressions)) - exposed_series() == set()
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
