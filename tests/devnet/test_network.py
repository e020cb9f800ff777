"""The DevNet object used in-process: lifecycle, awaitable hooks, submissions without HTTP."""

from __future__ import annotations

import asyncio

from stellar_sdk import Account, Asset, Keypair, TransactionBuilder

from devnet import DEFAULT_PASSPHRASE, DevNet

XLM = 10_000_000


async def test_start_and_stop_with_or_without_await() -> None:
    net = DevNet(ledger_interval=0.01)
    net.start()
    assert net.running
    reached = await net.wait_for_ledger(3)
    assert reached >= 3
    net.stop()  # takes effect at once
    assert not net.running
    await net.start()
    await net.wait_for_ledger(reached + 1)
    await net.stop()
    assert not net.running


async def test_root_is_derived_from_the_passphrase() -> None:
    assert DevNet().root_keypair.public_key == DevNet(DEFAULT_PASSPHRASE).root_keypair.public_key
    assert DevNet("other network").root_keypair.public_key != DevNet().root_keypair.public_key


async def test_in_process_submission_with_manual_closes() -> None:
    net = DevNet()  # no timer: ledgers close only when asked
    payer, payee = Keypair.random(), Keypair.random()
    funding = [net.enqueue_friendbot(payer.public_key), net.enqueue_friendbot(payee.public_key)]
    sequence = await net.close_ledger()
    assert [(await f).ledger for f in funding] == [sequence, sequence]
    source = net.accounts[payer.public_key]
    envelope = (
        TransactionBuilder(Account(payer.public_key, source.seq_num), net.passphrase, 100)
        .append_payment_op(payee.public_key, Asset.native(), "2")
        .add_time_bounds(0, 0)
        .build()
    )
    envelope.sign(payer)
    pending = asyncio.ensure_future(net.submit(envelope.to_xdr()))
    await net.wait_for_pending(1)
    closed = await net.close_ledger()
    outcome = await pending
    assert (outcome.successful, outcome.ledger) == (True, closed)
    assert net.balance(payee.public_key) == 10_002 * XLM
    assert net.history.ledger(closed) is not None


async def test_close_times_never_go_backwards() -> None:
    net = DevNet(clock_offset=600)
    first = net.history.ledger(await net.close_ledger())
    net.set_clock_offset(-600)
    second = net.history.ledger(await net.close_ledger())
    assert first is not None
    assert second is not None
    assert second.closed_at == first.closed_at
    assert net.network_time() >= first.closed_at
