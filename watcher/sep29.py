"""SEP-29: a receiving account should carry the data entry `config.memo_required` = "1".

SEP-29-aware wallets then refuse to send to the plain G… address without a memo, which is what
keeps buyers from paying money that no payment can be matched to (muxed M… addresses need no
memo and are exempt). The watcher only warns: setting the entry needs the account's secret key,
which paywatch never holds.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import structlog

from shared.stellar.horizon import HorizonClient, HorizonError, NotFound

log = structlog.get_logger("paywatch.watcher.sep29")

MEMO_REQUIRED_KEY = "config.memo_required"
# The check spends Horizon's per-IP request budget: the first few accounts at once, then the rest at
# a small share of the budget (1,000 accounts must not cost 1,000 requests in a burst).
BURST = 5
BUDGET_SHARE = 0.02
MEMO_REQUIRED_VALUE = base64.b64encode(b"1").decode()  # Horizon shows data entries in base64: "MQ=="


def requires_memo(account: Mapping[str, Any]) -> bool:
    """Whether a Horizon account record has SEP-29's memo-required flag set."""
    data = account.get("data")
    return isinstance(data, Mapping) and data.get(MEMO_REQUIRED_KEY) == MEMO_REQUIRED_VALUE


async def check_memo_required(
    horizon: HorizonClient, accounts: Iterable[str], budget_per_hour: int
) -> list[str]:
    """Warn about each receiving account without the flag; returns those accounts."""
    missing = []
    pace = 3600 / max(budget_per_hour * BUDGET_SHARE, 1e-9)
    for index, address in enumerate(accounts):
        if index >= BURST:
            await asyncio.sleep(pace)
        try:
            account = await horizon.get(f"/accounts/{address}")
        except NotFound:
            log.warning("receiving account does not exist on the network yet", account=address)
            continue
        except (HorizonError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("could not check the SEP-29 memo-required flag", account=address, error=str(exc)[:200])
            continue
        if not requires_memo(account):
            missing.append(address)
            log.warning(
                "receiving account does not require a memo (SEP-29)",
                account=address,
                advice=(
                    f'set the data entry "{MEMO_REQUIRED_KEY}" to "1" (manage_data) so that wallets refuse '
                    "payments to it without a memo; see docs/security.md"
                ),
            )
    return missing
