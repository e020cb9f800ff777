"""Assets as the devnet keys them, and their Horizon JSON fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stellar_sdk import Asset
from stellar_sdk import xdr as stellar_xdr

NATIVE_TYPE = "native"
ALPHANUM4_TYPE = "credit_alphanum4"
ALPHANUM12_TYPE = "credit_alphanum12"


@dataclass(frozen=True, order=True)
class AssetKey:
    """An asset: `native`, or a code and issuer (the XDR kind is kept so 4/12 stays exact)."""

    type: str
    code: str = ""
    issuer: str = ""

    @property
    def is_native(self) -> bool:
        return self.type == NATIVE_TYPE

    def horizon_fields(self, prefix: str = "") -> dict[str, Any]:
        """`base.Asset` in Go field order: asset_type, asset_code, asset_issuer (codes omitted for XLM)."""
        fields: dict[str, Any] = {f"{prefix}asset_type": self.type}
        if not self.is_native:
            fields[f"{prefix}asset_code"] = self.code
            fields[f"{prefix}asset_issuer"] = self.issuer
        return fields

    def canonical(self) -> str:
        return "native" if self.is_native else f"{self.code}:{self.issuer}"

    def to_sdk(self) -> Asset:
        return Asset.native() if self.is_native else Asset(self.code, self.issuer)

    def __str__(self) -> str:
        return self.canonical()


NATIVE = AssetKey(NATIVE_TYPE)


def from_sdk(asset: Asset) -> AssetKey:
    if asset.is_native():
        return NATIVE
    assert asset.issuer is not None
    kind = ALPHANUM4_TYPE if len(asset.code) <= 4 else ALPHANUM12_TYPE
    return AssetKey(kind, asset.code, asset.issuer)


def parse(text: str) -> AssetKey:
    """Parse `native`/`XLM` or `CODE:ISSUER` (the form the HTTP controls accept)."""
    if text in ("native", "XLM"):
        return NATIVE
    code, sep, issuer = text.partition(":")
    if not sep:
        raise ValueError(f"invalid asset {text!r}: expected 'native' or 'CODE:ISSUER'")
    return from_sdk(Asset(code, issuer))


def from_xdr(asset: stellar_xdr.Asset) -> AssetKey:
    return from_sdk(Asset.from_xdr_object(asset))


def from_change_trust_xdr(line: stellar_xdr.ChangeTrustAsset) -> AssetKey | None:
    """The asset of a change_trust line, or None for liquidity-pool shares (not supported)."""
    kind = line.type
    if kind == stellar_xdr.AssetType.ASSET_TYPE_NATIVE:
        return NATIVE
    if kind == stellar_xdr.AssetType.ASSET_TYPE_CREDIT_ALPHANUM4:
        return from_xdr(stellar_xdr.Asset(kind, alpha_num4=line.alpha_num4))
    if kind == stellar_xdr.AssetType.ASSET_TYPE_CREDIT_ALPHANUM12:
        return from_xdr(stellar_xdr.Asset(kind, alpha_num12=line.alpha_num12))
    return None
