"""SEP-7 `web+stellar:pay` URIs for a payment request."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from shared.domain.amounts import format_amount_short
from shared.domain.assets import Asset

PUBLIC_PASSPHRASE = "Public Global Stellar Network ; September 2015"  # noqa: S105 - not a secret


@lru_cache(maxsize=65536)  # constant for a payment, rendered in every one of its events
def pay_uri(
    *,
    destination: str,
    amount: int,
    asset: Asset,
    memo: str | None,
    memo_type: str | None,
    network_passphrase: str,
    message: str | None = None,
) -> str:
    """Build `web+stellar:pay?...`; the network passphrase is included unless it is the public network."""
    params: list[tuple[str, str]] = [("destination", destination), ("amount", format_amount_short(amount))]
    if not asset.is_native:
        assert asset.issuer is not None
        params += [("asset_code", asset.code), ("asset_issuer", asset.issuer)]
    if memo is not None and memo_type is not None:
        params += [("memo", memo), ("memo_type", memo_type)]
    if message:
        params.append(("msg", message[:300]))
    if network_passphrase != PUBLIC_PASSPHRASE:
        params.append(("network_passphrase", network_passphrase))
    return "web+stellar:pay?" + "&".join(f"{key}={quote(value, safe='')}" for key, value in params)
