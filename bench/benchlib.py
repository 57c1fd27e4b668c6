"""What the benchmarks share: a fresh, migrated database, and consenting parents to broadcast to."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from bot.storage import migrate  # noqa: E402
from bot.storage.db import Database  # noqa: E402
from schedules.broadcasts import USERS  # noqa: E402


async def fresh_database(url: str) -> Database:
    """A migrated database at ``url``; on PostgreSQL its public schema is dropped first."""
    db = Database(url)
    if db.is_postgres:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(db)
    return db


async def add_parents(db: Database, count: int, *, first_id: int, now: dt.datetime) -> None:
    """``count`` parents in 思明区 who consented and take broadcasts, in all three languages."""
    rows = [
        {
            "id": first_id + i,
            "language": ("zh_Hans", "zh_Hant", "en")[i % 3],
            "role": "parent",
            "district": "思明区",
            "consent_at": now,
            "broadcasts_enabled": True,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    async with db.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(USERS.insert(), rows[start : start + 5000])
