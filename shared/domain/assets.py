"""Assets are native XLM or (code, issuer). A credit asset matches only when BOTH code and issuer match."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.domain.strkeys import is_account_id

_ASSET_CODE = re.compile(r"[A-Za-z0-9]{1,12}", re.ASCII)


class AssetError(ValueError):
    """An asset description that is not a valid Stellar asset."""


@dataclass(frozen=True, slots=True)
class Asset:
    code: str
    issuer: str | None  # None for native XLM

    @classmethod
    def native(cls) -> Asset:
        return NATIVE

    @classmethod
    def credit(cls, code: str, issuer: str) -> Asset:
        if not _ASSET_CODE.fullmatch(code):
            raise AssetError(f"asset code {code!r} must be 1-12 letters or digits")
        if not is_account_id(issuer):
            raise AssetError(f"asset issuer {issuer!r} is not a valid account (G…) key")
        return cls(code, issuer)

    @property
    def is_native(self) -> bool:
        return self.issuer is None

    @property
    def horizon_type(self) -> str:
        if self.issuer is None:
            return "native"
        return "credit_alphanum4" if len(self.code) <= 4 else "credit_alphanum12"

    def __str__(self) -> str:
        return "native" if self.issuer is None else f"{self.code}:{self.issuer}"


NATIVE = Asset("XLM", None)


def asset_from_horizon(asset_type: object, code: object, issuer: object) -> Asset:
    """Build an Asset from Horizon's `asset_type` / `asset_code` / `asset_issuer` fields."""
    if asset_type == "native":
        return NATIVE
    if asset_type in ("credit_alphanum4", "credit_alphanum12"):
        if not isinstance(code, str) or not isinstance(issuer, str):
            raise AssetError("credit asset without code or issuer")
        asset = Asset.credit(code, issuer)
        if asset.horizon_type != asset_type:
            raise AssetError(f"asset code {code!r} does not fit asset type {asset_type}")
        return asset
    raise AssetError(f"unsupported asset type {asset_type!r}")
