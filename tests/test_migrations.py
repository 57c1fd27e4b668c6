"""The migrations, applied to an empty database, build exactly the schema the models describe: every
table, column, type and index (on SQLite, and on PostgreSQL when the suite runs there)."""

from __future__ import annotations

from bot.storage import migrate
from bot.storage.db import Database
from tests.migration_support import schema_diffs


async def test_the_migrated_schema_is_the_models_schema(db: Database) -> None:
    assert await migrate.current_revision(db) == migrate.head_revision()
    assert await schema_diffs(db) == []
