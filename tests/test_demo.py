"""`paywatch demo`: the offline story runs end to end as a real command and exits 0."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.ops_support import paywatch_cli


def demo_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("paywatch-demo-*"))


async def test_demo_tells_the_story_and_exits_0() -> None:
    before = demo_dirs()
    story = await paywatch_cli("demo")
    lines = story.splitlines()
    steps = [line for line in lines if line.startswith("[")]
    assert [line.split()[0] for line in steps] == [f"[{n}/8]" for n in range(1, 9)]
    assert "201 pay_" in steps[3]
    assert "signs a payment of 25 XLM with MEMO_ID" in steps[4]
    assert "receipt accepted" in steps[5]
    assert "confirmed" in steps[5]
    assert "payment.initiated" in steps[6]
    assert steps[6].endswith(")")
    assert "payment.confirmed (#" in steps[6]
    # The receiver checked the delivery's signature (a bad one is answered 401 and never shown here).
    confirmed_id = steps[6].split("payment.confirmed (#")[1].split(")")[0]
    assert (
        f"received payment.confirmed (webhook-id {confirmed_id}), Standard Webhooks signature verified"
        in (steps[7])
    )
    assert lines[-1].startswith("done: order demo-1 paid and confirmed")
    assert demo_dirs() == before  # temporary files only, and removed


async def test_a_demo_step_that_does_not_happen_fails_with_exit_1() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "paywatch.cli",
        "demo",
        "--timeout",
        "0",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert "demo failed: funding the accounts: nothing after 0 s" in stdout.decode()
