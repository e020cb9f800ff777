"""`paywatch apikey create/list/revoke`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from shared.apikeys import generate_key, parse_scopes
from shared.clock import utcnow
from shared.config import Settings
from shared.store import apikeys as key_store
from shared.store.engine import Database


async def create_key(db: Database, name: str, scopes: Sequence[str]) -> str:
    new = generate_key()
    async with db.write() as conn:
        await key_store.insert_key(
            conn, key_id=new.key_id, name=name, key_hash=new.key_hash, scopes=" ".join(scopes), now=utcnow()
        )
    return new.key


def run_apikey(settings: Settings, args: argparse.Namespace) -> int:
    from paywatch.cli import CommandError

    async def main() -> int:
        db = Database.open(settings.database_url)
        try:
            if args.action == "create":
                try:
                    scopes = parse_scopes(args.scopes)
                except ValueError as exc:
                    raise CommandError(str(exc), 64) from None
                key = await create_key(db, args.name, scopes)
                print(f"paywatch: API key {key.split('_')[1]} ({' '.join(scopes)}), shown only this once:")
                print(f"  {key}")
                return 0
            if args.action == "list":
                async with db.read() as conn:
                    rows = await key_store.list_keys(conn)
                print(f"{'ID':<14} {'CREATED':<20} {'REVOKED':<20} {'SCOPES':<40} NAME")
                for row in rows:
                    revoked = row.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if row.revoked_at else "-"
                    created = row.created_at.strftime("%Y-%m-%d %H:%M:%S")
                    print(f"{row.id:<14} {created:<20} {revoked:<20} {row.scopes:<40} {row.name}")
                return 0
            async with db.write() as conn:
                revoked_now = await key_store.revoke_key(conn, args.key_id, utcnow())
            if not revoked_now:
                raise CommandError(f"no active API key with id {args.key_id!r}")
            print(f"paywatch: revoked API key {args.key_id}")
            return 0
        finally:
            await db.close()

    return asyncio.run(main())
