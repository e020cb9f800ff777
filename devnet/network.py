"""The devnet itself: ledger state, the submission queue, ledger closes on a timer, network time."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from stellar_sdk import Account, Asset, Keypair, Memo, StrKey, TransactionBuilder

from . import assets
from .amounts import format_amount, parse_amount
from .assets import AssetKey
from .contract import ContractTransfer, apply_transfer
from .contract import check as check_transfer
from .counters import RequestCounts
from .faults import Fault, FaultRegistry
from .history import History, LedgerRecord, TransactionRecord
from .ledger import ApplyFn, Ledger
from .ratelimit import RateLimiter
from .rates import RateTable
from .results import TX_CODES
from .state import BASE_FEE, AccountEntry
from .txapply import AppliedTransaction, Rejection, apply_transaction, fee_for, validate_submission
from .txparse import ParsedTransaction, parse_envelope

DEFAULT_PASSPHRASE = "paywatch devnet ; 2026"  # noqa: S105 - a network name, not a secret
FRIENDBOT_STARTING_BALANCE = 10_000 * 10_000_000


class AlreadyFunded(Exception):
    """Friendbot was asked to fund an account that exists."""


@dataclass
class SubmitOutcome:
    """What happened to a submitted transaction: recorded in a ledger, or rejected unrecorded."""

    hash: str
    envelope_xdr: str
    record: TransactionRecord | None = None
    rejection: Rejection | None = None

    @property
    def successful(self) -> bool:
        return self.record is not None and self.record.successful

    @property
    def ledger(self) -> int | None:
        return None if self.record is None else self.record.ledger

    @property
    def result_xdr(self) -> str:
        if self.record is not None:
            return self.record.result_xdr
        assert self.rejection is not None
        return self.rejection.result_xdr

    @property
    def result_codes(self) -> dict[str, Any]:
        if self.rejection is not None:
            codes: dict[str, Any] = {"transaction": TX_CODES[self.rejection.code]}
            if self.rejection.op_results:
                codes["operations"] = [r.code for r in self.rejection.op_results]
            return codes
        assert self.record is not None
        if self.record.successful:
            return {"transaction": "tx_success", "operations": list(self.record.op_codes)}
        return {"transaction": "tx_failed", "operations": list(self.record.op_codes)}


@dataclass
class _Queued:
    apply: ApplyFn
    future: asyncio.Future[SubmitOutcome]
    hash: str
    envelope_xdr: str
    source: str | None = None
    seq: int | None = None
    fee: int = 0
    custom: bool = False  # built at close time (test controls)


class DevNet:
    """An in-memory Stellar network with a Horizon-compatible history (served by `devnet.app`)."""

    def __init__(
        self,
        passphrase: str = DEFAULT_PASSPHRASE,
        ledger_interval: float = 5.0,
        clock_offset: float = 0.0,
    ) -> None:
        self.passphrase = passphrase
        self.ledger_interval = ledger_interval
        self._clock_offset = clock_offset
        seed = hashlib.sha256(passphrase.encode()).digest()
        # Like a standalone network: the root key is derived from the passphrase.
        self.root_keypair = Keypair.from_raw_ed25519_seed(seed)
        self.friendbot_keypair = Keypair.from_raw_ed25519_seed(hashlib.sha256(b"friendbot:" + seed).digest())
        self.rates = RateTable()
        self.faults = FaultRegistry()
        self.request_counts = RequestCounts()
        self.rate_limiter: RateLimiter | None = None  # Horizon's per-IP budget, off unless configured
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._queued = asyncio.Event()
        self.close_count = 0
        self._last_close_time = 0
        self._queue: list[_Queued] = []
        self._friendbot_pending: dict[str, asyncio.Future[SubmitOutcome]] = {}
        self._genesis()

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> asyncio.Future[None]:
        """Start closing ledgers every `ledger_interval` seconds (needs a running event loop).

        Takes effect at once; the returned future is already done, so `await net.start()` works too.
        """
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(
                self._run_timer(), name="devnet-ledger-timer"
            )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def stop(self) -> asyncio.Future[None]:
        """Stop the ledger timer (ledgers then close only on `close_ledger()`; streams stay open).

        Takes effect at once; await the returned future to also wait for the timer task to finish.
        """
        timer, self._timer = self._timer, None
        loop = asyncio.get_running_loop()
        if timer is None or timer.done():
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            return done
        timer.cancel()
        return loop.create_task(_absorb_cancel(timer))

    async def __aenter__(self) -> DevNet:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """Is the ledger timer running?"""
        return self._timer is not None and not self._timer.done()

    async def _run_timer(self) -> None:
        while True:
            await asyncio.sleep(self.ledger_interval)
            await self.close_ledger()

    # --- time --------------------------------------------------------------------------------

    @property
    def clock_offset(self) -> float:
        return self._clock_offset

    def set_clock_offset(self, seconds: float) -> None:
        """Make network time run ahead (positive) or behind (negative) the wall clock."""
        self._clock_offset = float(seconds)

    def network_time(self) -> int:
        """The close time the next ledger would get (never earlier than the last one)."""
        return max(self._last_close_time, int(time.time() + self._clock_offset))

    # --- ledgers -----------------------------------------------------------------------------

    @property
    def latest_ledger(self) -> int:
        return self.history.ledgers[-1].sequence

    @property
    def latest_ledger_record(self) -> LedgerRecord:
        return self.history.ledgers[-1]

    @property
    def elder_ledger(self) -> int:
        return self.history.ledgers[0].sequence

    def changed(self) -> asyncio.Event:
        """An event set at the next ledger close (or reset/stop); take it before checking state."""
        return self._changed

    async def wait_for_ledger(self, sequence: int) -> int:
        """Wait until ledger `sequence` has closed (wrap in `asyncio.timeout()` to bound it)."""
        while self.latest_ledger < sequence:
            await self._changed.wait()
        return self.latest_ledger

    def _notify(self) -> None:
        self.close_count += 1
        fired, self._changed = self._changed, asyncio.Event()
        fired.set()

    async def close_ledger(self) -> int:
        """Close a ledger now, applying every queued transaction; returns its sequence number."""
        async with self._lock:
            return self._close()

    def _close(self) -> int:
        close_time = self.network_time()
        queued, self._queue = self._queue, []
        # Submitted envelopes first: their sequence numbers were validated against the current
        # state, so control-injected transactions (which take the next free number) must not jump
        # ahead of them.
        queued.sort(key=lambda item: item.custom)
        outcomes = self.ledger.close([item.apply for item in queued], close_time)
        self._last_close_time = close_time
        for item, applied in zip(queued, outcomes, strict=True):
            if isinstance(applied, Rejection):
                outcome = SubmitOutcome(item.hash, item.envelope_xdr, rejection=applied)
            else:
                outcome = SubmitOutcome(
                    applied.record.hash, applied.record.envelope_xdr, record=applied.record
                )
            if not item.future.done():
                item.future.set_result(outcome)
        self._notify()
        return self.latest_ledger

    def _genesis(self) -> None:
        now = max(self._last_close_time, int(time.time() + self._clock_offset))
        self.ledger = Ledger(self.root_keypair.public_key, self.friendbot_keypair.public_key, now)
        self._last_close_time = now

    @property
    def accounts(self) -> dict[str, AccountEntry]:
        return self.ledger.accounts

    @property
    def history(self) -> History:
        return self.ledger.history

    async def reset(self) -> None:
        """Wipe history and state back to ledger 1, like a testnet reset (queued transactions are dropped)."""
        async with self._lock:
            dropped, self._queue = self._queue, []
            for item in dropped:
                if not item.future.done():
                    item.future.cancel()
            self.rates.clear()
            self._friendbot_pending.clear()
            self._genesis()
            self._notify()

    # --- accounts ----------------------------------------------------------------------------

    def account(self, account_id: str) -> AccountEntry | None:
        return self.accounts.get(account_id)

    def balance(self, account_id: str, asset: Asset | AssetKey | None = None) -> int:
        """An account's balance in stroops (0 when the account or trustline does not exist)."""
        entry = self.accounts.get(account_id)
        key = _asset_key(asset)
        if entry is None:
            return 0
        if key.is_native:
            return entry.balance
        line = entry.trustlines.get(key)
        return 0 if line is None else line.balance

    def set_rate(
        self,
        send_asset: Asset | AssetKey | str | None,
        dest_asset: Asset | AssetKey | str | None,
        numerator: int,
        denominator: int,
    ) -> None:
        """Path payments convert `send_asset` to `dest_asset` at numerator/denominator (see devnet.rates)."""
        self.rates.set(_asset_key(send_asset), _asset_key(dest_asset), numerator, denominator)

    # --- test controls: faults and Horizon's request budget ------------------------------------

    def add_fault(self, kind: str, **options: Any) -> Fault:
        """Add a fault (see devnet.faults for kinds and options); returns it (with its id)."""
        return self.faults.add(Fault(kind, **options))

    def set_rate_limit(self, per_hour: int = 3600, burst: int = 100) -> None:
        """Enforce Horizon's per-IP budget (GCRA) on REST requests and stream iterations."""
        self.rate_limiter = RateLimiter(per_hour, burst)

    def disable_rate_limit(self) -> None:
        self.rate_limiter = None

    # --- submission --------------------------------------------------------------------------

    @property
    def pending_count(self) -> int:
        return len(self._queue)

    async def wait_for_pending(self, count: int = 1) -> None:
        """Wait until at least `count` transactions are queued for the next ledger (a test hook)."""
        while len(self._queue) < count:
            self._queued.clear()
            await self._queued.wait()

    def _push(self, item: _Queued) -> None:
        self._queue.append(item)
        self._queued.set()

    def _pending_for(self, account_id: str) -> tuple[int | None, int]:
        """(next expected sequence number, fees already promised) for queued transactions of an account."""
        seqs = [q.seq for q in self._queue if q.source == account_id and q.seq is not None]
        fees = sum(q.fee for q in self._queue if q.source == account_id)
        return (max(seqs) + 1 if seqs else None), fees

    def _find_queued(self, tx_hash: str) -> _Queued | None:
        for item in self._queue:
            if item.hash == tx_hash:
                return item
        return None

    def enqueue_envelope(self, envelope_xdr: str) -> asyncio.Future[SubmitOutcome]:
        """Validate a signed envelope and queue it for the next ledger.

        Returns a future resolved at the close that includes (or refuses) it; an immediate refusal
        is an already-resolved future. Raises MalformedEnvelope / UnsupportedEnvelope.
        """
        tx = parse_envelope(envelope_xdr, self.passphrase)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SubmitOutcome] = loop.create_future()
        done = self.history.transactions_by_hash.get(tx.hash_hex)
        if done is not None:
            future.set_result(SubmitOutcome(tx.hash_hex, envelope_xdr, record=done))
            return future
        queued = self._find_queued(tx.hash_hex)
        if queued is not None:
            return queued.future
        expected, pending_fees = self._pending_for(tx.source.account_id)
        rejection = validate_submission(self.accounts, tx, self.network_time(), expected, pending_fees)
        if rejection is not None:
            future.set_result(SubmitOutcome(tx.hash_hex, envelope_xdr, rejection=rejection))
            return future
        self._push(
            _Queued(
                apply=lambda accounts, seq, index, close: apply_transaction(
                    accounts, tx, seq, index, close, self.rates
                ),
                future=future,
                hash=tx.hash_hex,
                envelope_xdr=envelope_xdr,
                source=tx.source.account_id,
                seq=tx.seq_num,
                fee=fee_for(tx),
            )
        )
        return future

    def enqueue_custom(
        self, apply: ApplyFn, tx_hash: str, envelope_xdr: str, source: str | None = None
    ) -> asyncio.Future[SubmitOutcome]:
        """Queue a transaction built at close time (used by test controls such as contract transfers)."""
        future: asyncio.Future[SubmitOutcome] = asyncio.get_running_loop().create_future()
        self._push(_Queued(apply, future, tx_hash, envelope_xdr, source=source, custom=True))
        return future

    async def submit(self, envelope_xdr: str) -> SubmitOutcome:
        """Submit and wait for the ledger that includes it (needs the timer or a `close_ledger()`)."""
        return await asyncio.shield(self.enqueue_envelope(envelope_xdr))

    def next_sequence(self, account_id: str) -> int:
        """The sequence number the account's next transaction must use, counting queued ones."""
        expected, _ = self._pending_for(account_id)
        if expected is not None:
            return expected
        entry = self.accounts.get(account_id)
        if entry is None:
            raise KeyError(account_id)
        return entry.seq_num + 1

    def enqueue_friendbot(
        self, address: str, amount: int = FRIENDBOT_STARTING_BALANCE
    ) -> asyncio.Future[SubmitOutcome]:
        """Queue a real create_account from the friendbot account (raises AlreadyFunded/ValueError)."""
        if not StrKey.is_valid_ed25519_public_key(address):
            raise ValueError("invalid address")
        if address in self.accounts:
            raise AlreadyFunded(address)
        pending = self._friendbot_pending.get(address)
        if pending is not None and not pending.done():
            return pending  # the same address asked twice before its ledger closed
        friendbot = self.friendbot_keypair
        source = Account(friendbot.public_key, self.next_sequence(friendbot.public_key) - 1)
        envelope = (
            TransactionBuilder(source, self.passphrase, base_fee=BASE_FEE)
            .append_create_account_op(address, format_amount(amount))
            .add_time_bounds(0, 0)
            .build()
        )
        envelope.sign(friendbot)
        future = self.enqueue_envelope(envelope.to_xdr())
        self._friendbot_pending[address] = future
        return future

    async def friendbot(self, address: str, amount: int = FRIENDBOT_STARTING_BALANCE) -> SubmitOutcome:
        return await asyncio.shield(self.enqueue_friendbot(address, amount))

    def inject_contract_transfer(
        self,
        from_address: str,
        to_address: str,
        asset: Asset | AssetKey | str | None,
        amount: str,
        memo: Memo | None = None,
        source: str | None = None,
    ) -> asyncio.Future[SubmitOutcome]:
        """Queue a SAC `transfer` as a successful `invoke_host_function` in the next ledger.

        `from_address` is G… or C…, `to_address` G…, M… or C…; `amount` a decimal string. The
        transaction's source (fee payer) is `source`, else `from_address` when it is an account,
        else friendbot. Raises ValueError when the transfer could not happen now. Await the
        returned future for the outcome (it resolves when the ledger closes).
        """
        payer = source or (from_address if StrKey.is_valid_ed25519_public_key(from_address) else None)
        transfer = ContractTransfer(
            from_address=from_address,
            to_address=to_address,
            asset=_asset_key(asset),
            amount=parse_amount(amount),
            source=payer or self.friendbot_keypair.public_key,
            memo=memo,
        )
        check_transfer(self.accounts, transfer)
        passphrase = self.passphrase

        def apply(
            accounts: dict[str, AccountEntry], seq: int, index: int, close: int
        ) -> AppliedTransaction | Rejection:
            return apply_transfer(accounts, transfer, passphrase, seq, index, close)

        return self.enqueue_custom(apply, "", "", source=transfer.source)

    def parse(self, envelope_xdr: str) -> ParsedTransaction:
        return parse_envelope(envelope_xdr, self.passphrase)


async def _absorb_cancel(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _asset_key(asset: Asset | AssetKey | str | None) -> AssetKey:
    if asset is None:
        return assets.NATIVE
    if isinstance(asset, AssetKey):
        return asset
    if isinstance(asset, str):
        return assets.parse(asset)
    return assets.from_sdk(asset)
