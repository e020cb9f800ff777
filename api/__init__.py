"""The HTTP API: a small aiohttp service over the store."""
