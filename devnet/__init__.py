"""A local, in-memory, Horizon-compatible Stellar network for tests, the demo and benchmarks."""

from __future__ import annotations

from .app import create_app
from .network import DEFAULT_PASSPHRASE, DevNet, SubmitOutcome
from .serve import serve

__all__ = ["DEFAULT_PASSPHRASE", "DevNet", "SubmitOutcome", "create_app", "serve"]
