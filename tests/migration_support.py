"""What separates the migrated schema from the one the models describe (Alembic's autogenerate
comparison), for the tests that hold each migration to its models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import bot.storage.models  # noqa: F401  (puts every table on the metadata)
from bot.storage.db import Database


async def schema_diffs(db: Database) -> list[Any]:
    def compare(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    async with db.engine.connect() as connection:
        return await connection.run_sync(compare)
