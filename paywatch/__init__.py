"""paywatch: a self-hosted Stellar payment watcher."""

__version__ = "0.1.0"
