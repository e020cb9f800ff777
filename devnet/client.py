"""A small async Horizon client for tests and the demo: builds real signed transactions with stellar-sdk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from stellar_sdk import (
    Account,
    AccountMerge,
    Asset,
    ChangeTrust,
    CreateAccount,
    HashMemo,
    IdMemo,
    Keypair,
    ManageData,
    Memo,
    MuxedAccount,
    NoneMemo,
    PathPaymentStrictReceive,
    PathPaymentStrictSend,
    Payment,
    ReturnHashMemo,
    TextMemo,
    TransactionBuilder,
    TransactionEnvelope,
)

from .network import DEFAULT_PASSPHRASE

BASE_FEE = 100


class HorizonError(Exception):
    """A Horizon request failed with a problem other than a submission outcome."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"Horizon answered {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class SubmitResult:
    """The outcome of `POST /transactions`; a 400 `transaction_failed` is a result, not an exception."""

    hash: str
    status: int
    successful: bool
    ledger: int | None  # set when the transaction is in a ledger (also for recorded failures)
    result_codes: dict[str, Any] | None
    response: dict[str, Any]

    @property
    def recorded(self) -> bool:
        return self.ledger is not None


@dataclass(frozen=True)
class PaymentSpec:
    """One payment in `pay_many`."""

    destination: str
    amount: str
    asset: Asset | None = None


class DevnetClient:
    """`async with DevnetClient(url, passphrase) as client:` — Horizon calls plus devnet controls."""

    def __init__(
        self,
        horizon_url: str,
        passphrase: str = DEFAULT_PASSPHRASE,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.horizon_url = horizon_url.rstrip("/")
        self.passphrase = passphrase
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> DevnetClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    # --- plain Horizon reads -----------------------------------------------------------------

    async def get_json(self, path: str, **params: str | int) -> dict[str, Any]:
        async with self.session.get(self.horizon_url + path, params=params) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise HorizonError(response.status, body)
            return dict(body)

    async def load_account(self, address: str) -> Account:
        """The account with its current sequence (what stellar-sdk's `load_account` returns)."""
        account_id = MuxedAccount.from_account(address).account_id
        body = await self.get_json(f"/accounts/{account_id}")
        return Account(address, int(body["sequence"]), raw_data=body)

    async def friendbot(self, address: str) -> dict[str, Any]:
        """Fund `address` with 10,000 XLM; returns the transaction record."""
        async with self.session.get(self.horizon_url + "/friendbot", params={"addr": address}) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise HorizonError(response.status, body)
            return dict(body)

    # --- submission --------------------------------------------------------------------------

    async def submit(self, envelope: TransactionEnvelope | str) -> SubmitResult:
        xdr = envelope if isinstance(envelope, str) else envelope.to_xdr()
        tx_hash = TransactionEnvelope.from_xdr(xdr, self.passphrase).hash_hex()
        async with self.session.post(self.horizon_url + "/transactions", data={"tx": xdr}) as response:
            body = dict(await response.json(content_type=None))
            status = response.status
        if status == 200:
            codes = {"transaction": "tx_success"}
            return SubmitResult(tx_hash, status, True, int(body["ledger"]), codes, body)
        codes_raw = (
            body.get("extras", {}).get("result_codes") if isinstance(body.get("extras"), dict) else None
        )
        ledger = None
        if status == 400 and isinstance(codes_raw, dict) and codes_raw.get("transaction") == "tx_failed":
            # A transaction that failed while applying is still in a ledger: find which.
            async with self.session.get(f"{self.horizon_url}/transactions/{tx_hash}") as lookup:
                if lookup.status == 200:
                    ledger = int((await lookup.json(content_type=None))["ledger"])
        return SubmitResult(tx_hash, status, False, ledger, codes_raw, body)

    async def build(
        self,
        source: Keypair,
        operations: Sequence[Any],
        memo: Memo | None = None,
        source_muxed_id: int | None = None,
        extra_signers: Sequence[Keypair] = (),
    ) -> TransactionEnvelope:
        """A signed envelope from `source` with the given stellar-sdk Operation objects."""
        account = await self.load_account(source.public_key)
        if source_muxed_id is not None:
            account = Account(
                MuxedAccount(source.public_key, source_muxed_id).account_muxed or "", account.sequence
            )
        builder = TransactionBuilder(account, self.passphrase, base_fee=BASE_FEE)
        for operation in operations:
            builder.append_operation(operation)
        if memo is not None:
            builder.add_memo(memo)
        # No upper time bound: tests move network time around and must not hit tx_too_late.
        builder.add_time_bounds(0, 0)
        envelope = builder.build()
        envelope.sign(source)
        for signer in extra_signers:
            envelope.sign(signer)
        return envelope

    # --- conveniences ------------------------------------------------------------------------

    async def pay(
        self,
        source: Keypair,
        destination: str,
        amount: str,
        asset: Asset | None = None,
        memo: Memo | None = None,
        source_muxed_id: int | None = None,
    ) -> SubmitResult:
        """One payment (destination may be G… or M…)."""
        return await self.pay_many(source, [PaymentSpec(destination, amount, asset)], memo, source_muxed_id)

    async def pay_many(
        self,
        source: Keypair,
        payments: Sequence[PaymentSpec | tuple[str, str] | tuple[str, str, Asset | None]],
        memo: Memo | None = None,
        source_muxed_id: int | None = None,
    ) -> SubmitResult:
        """Several payments in one transaction (one operation each)."""
        ops = []
        for spec in payments:
            p = spec if isinstance(spec, PaymentSpec) else PaymentSpec(*spec)
            ops.append(Payment(p.destination, p.asset or Asset.native(), p.amount))
        return await self.submit(await self.build(source, ops, memo, source_muxed_id))

    async def pay_in_failed_transaction(
        self,
        source: Keypair,
        destination: str,
        amount: str,
        asset: Asset | None = None,
        memo: Memo | None = None,
    ) -> SubmitResult:
        """A transaction that pays the full amount but is recorded as FAILED.

        Its first operation is the payment (op_success on its own); the second creates an account
        that already exists (the destination), which fails when the ledger closes (op_already_exists),
        so the whole transaction is recorded with `successful: false` and nothing moves but the fee.
        """
        existing = MuxedAccount.from_account(destination).account_id
        ops = [Payment(destination, asset or Asset.native(), amount), CreateAccount(existing, "1")]
        return await self.submit(await self.build(source, ops, memo))

    async def trust(self, holder: Keypair, asset: Asset, limit: str | None = None) -> SubmitResult:
        return await self.submit(await self.build(holder, [ChangeTrust(asset, limit)]))

    async def issue(self, issuer: Keypair, holder: Keypair, asset: Asset, amount: str) -> SubmitResult:
        """Trustline from `holder`, then the issuer pays `amount` (tokens are created by paying them)."""
        trusted = await self.trust(holder, asset)
        if not trusted.successful:
            return trusted
        return await self.pay(issuer, holder.public_key, amount, asset)

    async def merge(self, source: Keypair, into: str) -> SubmitResult:
        return await self.submit(await self.build(source, [AccountMerge(into)]))

    async def set_data(self, keypair: Keypair, name: str, value: bytes | str | None) -> SubmitResult:
        return await self.submit(await self.build(keypair, [ManageData(name, value)]))

    async def path_pay_strict_receive(
        self,
        source: Keypair,
        destination: str,
        send_asset: Asset,
        send_max: str,
        dest_asset: Asset,
        dest_amount: str,
        path: Sequence[Asset] = (),
        memo: Memo | None = None,
    ) -> SubmitResult:
        op = PathPaymentStrictReceive(destination, send_asset, send_max, dest_asset, dest_amount, list(path))
        return await self.submit(await self.build(source, [op], memo))

    async def path_pay_strict_send(
        self,
        source: Keypair,
        destination: str,
        send_asset: Asset,
        send_amount: str,
        dest_asset: Asset,
        dest_min: str,
        path: Sequence[Asset] = (),
        memo: Memo | None = None,
    ) -> SubmitResult:
        op = PathPaymentStrictSend(destination, send_asset, send_amount, dest_asset, dest_min, list(path))
        return await self.submit(await self.build(source, [op], memo))

    # --- devnet controls ---------------------------------------------------------------------

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.request(method, f"{self.horizon_url}/_devnet/{path}", json=body) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise HorizonError(response.status, data)
            return data

    async def close_ledger(self) -> int:
        return int((await self.control("POST", "close_ledger"))["ledger"])

    async def set_clock_offset(self, seconds: float) -> None:
        await self.control("POST", "clock", {"offset_seconds": seconds})

    async def state(self) -> dict[str, Any]:
        return dict(await self.control("GET", "state"))

    async def reset(self) -> None:
        await self.control("POST", "reset")

    async def contract_transfer(
        self,
        from_address: str,
        to_address: str,
        asset: Asset | None,
        amount: str,
        memo: Memo | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Inject a SAC transfer (an `invoke_host_function` payment); returns hash, ledger, operation_id."""
        body: dict[str, Any] = {
            "from": from_address,
            "to": to_address,
            "asset": _asset_text(asset or Asset.native()),
            "amount": amount,
            **_memo_json(memo),
        }
        if source is not None:
            body["source"] = source
        return dict(await self.control("POST", "contract_transfer", body))

    async def add_fault(self, kind: str, **options: Any) -> dict[str, Any]:
        """Add a fault (see devnet.faults); returns it with its id."""
        return dict(await self.control("POST", "faults", {"kind": kind, **options}))

    async def clear_faults(self) -> None:
        await self.control("DELETE", "faults")

    async def set_rate_limit(self, per_hour: int = 3600, burst: int = 100) -> None:
        await self.control("POST", "rate_limit", {"per_hour": per_hour, "burst": burst})

    async def disable_rate_limit(self) -> None:
        await self.control("POST", "rate_limit", {"enabled": False})

    async def request_counts(self) -> dict[str, dict[str, int]]:
        return dict(await self.control("GET", "requests"))

    async def set_rate(self, send_asset: Asset, dest_asset: Asset, numerator: int, denominator: int) -> None:
        body = {
            "send_asset": _asset_text(send_asset),
            "dest_asset": _asset_text(dest_asset),
            "numerator": numerator,
            "denominator": denominator,
        }
        await self.control("POST", "rates", body)


def _asset_text(asset: Asset) -> str:
    return "native" if asset.is_native() else f"{asset.code}:{asset.issuer}"


def _memo_json(memo: Memo | None) -> dict[str, Any]:
    if memo is None or isinstance(memo, NoneMemo):
        return {"memo_type": "none"}
    if isinstance(memo, TextMemo):
        return {"memo_type": "text", "memo": memo.memo_text.decode("utf-8")}
    if isinstance(memo, IdMemo):
        return {"memo_type": "id", "memo": str(memo.memo_id)}
    if isinstance(memo, HashMemo):
        return {"memo_type": "hash", "memo": memo.memo_hash.hex()}
    if isinstance(memo, ReturnHashMemo):
        return {"memo_type": "return", "memo": memo.memo_return.hex()}
    raise TypeError(f"unsupported memo {memo!r}")
