"""A local, in-memory, Horizon-compatible Stellar network for tests, the demo and benchmarks.

    net = DevNet(ledger_interval=0.05)
    async with serve(net) as horizon_url:          # http://127.0.0.1:<port>
        async with DevnetClient(horizon_url, net.passphrase) as client:
            ...

See docs/devnet.md.
"""

from __future__ import annotations

from .app import create_app
from .client import DevnetClient, PaymentSpec, SubmitResult
from .faults import Fault
from .network import DEFAULT_PASSPHRASE, DevNet, SubmitOutcome
from .serve import serve

__all__ = [
    "DEFAULT_PASSPHRASE",
    "DevNet",
    "DevnetClient",
    "Fault",
    "PaymentSpec",
    "SubmitOutcome",
    "SubmitResult",
    "create_app",
    "serve",
]
