"""The hand-written migration 0003_directory: it builds exactly the tables the models describe, and
it downgrades and upgrades again cleanly."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

import bot.directory.models  # noqa: F401  (puts the directory's tables on the metadata)
from bot.directory import credit_code as cc
from bot.directory import repository
from bot.directory.records import InstitutionRecord
from bot.directory.repository import ClaimError
from bot.storage import migrate
from bot.storage.db import Database
from tests.migration_support import schema_diffs

TABLES = {"institutions", "claim_codes", "institution_operators"}
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def _touches_directory(diff: Any) -> bool:
    if isinstance(diff, list):
        return any(_touches_directory(d) for d in diff)
    for part in diff[1:]:
        table = getattr(part, "table", None)
        name = getattr(table, "name", None) or getattr(part, "name", None)
        if name in TABLES or part in TABLES:
            return True
    return False


async def test_migration_matches_the_models(db: Database) -> None:
    diffs = await schema_diffs(db)
    assert [d for d in diffs if _touches_directory(d)] == []

    def indexes(connection: Any) -> dict[str, list[str]]:
        found = inspect(connection).get_indexes("institutions")
        return {i["name"]: list(i["column_names"]) for i in found}

    async with db.engine.connect() as connection:
        names = await connection.run_sync(indexes)
    assert names["ix_institutions_lat_lon"] == ["lat", "lon"]
    assert names["ix_institutions_lon"] == ["lon"]


async def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.sqlite3'}")
    try:
        await migrate.upgrade(db)
        await migrate.downgrade(db, "0002_knowledge")

        def tables(connection: Any) -> set[str]:
            return set(inspect(connection).get_table_names())

        async with db.engine.connect() as connection:
            assert not (await connection.run_sync(tables)) & TABLES
        await migrate.upgrade(db)
        async with db.engine.connect() as connection:
            assert await connection.run_sync(tables) >= TABLES
    finally:
        await db.dispose()


async def test_two_people_racing_for_one_code(db: Database) -> None:
    record = InstitutionRecord(
        name="甲", credit_code=cc.generate("91", "350203", random.Random(1)), lat=24.5, lon=118.1
    )
    await repository.import_rows(db, [record], now=NOW)
    (issued,) = await repository.claim_codes(db, now=NOW)
    outcomes = await asyncio.gather(
        *(repository.claim(db, issued.code, user, now=NOW) for user in (1, 2, 3)), return_exceptions=True
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(o, ClaimError) and o.reason == "used" for o in losers)
    (institution_id,) = {w.id for w in winners}
    assert institution_id is not None
    assert len(await repository.operators_of(db, institution_id)) == 1
