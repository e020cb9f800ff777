"""Typed application keys (aiohttp AppKey) for everything handlers share."""

from __future__ import annotations

from aiohttp import web

from shared.apply import ApplyContext
from shared.config import Settings
from shared.stellar.horizon import HorizonClient
from shared.store.engine import Database

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
APPLY_CONTEXT = web.AppKey("apply_context", ApplyContext)
OPENAPI = web.AppKey("openapi", dict)
HORIZON = web.AppKey("horizon", HorizonClient)
