"""Shared fixtures: a migrated database (temp SQLite, or PostgreSQL when CAREBOT_TEST_DATABASE_URL is
set), a fake clock, the services, and the real Application wired to the in-process Bot API."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

# PTB 22 warns on every RetryAfter that it will return a timedelta in future; opt in now so the
# 429 tests do not trip filterwarnings=error.
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.app import CareBotApp, build_application
from bot.clock import FakeClock
from bot.services import Services
from bot.settings import Settings
from bot.simulator import ChatSession, SimulatedUser
from bot.storage import migrate
from bot.storage.db import Database
from bot.transport import InProcessBotAPI

ADMIN_ID = 900001
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
_postgres_migrated: set[str] = set()


def database_url_for(tmp_path: Path) -> str:
    return os.environ.get("CAREBOT_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"


async def _reset_postgres(db: Database) -> None:
    """Start the session from an empty schema (migrations included), later tests from empty tables."""
    if db.url not in _postgres_migrated:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await migrate.upgrade(db)
        _postgres_migrated.add(db.url)
        return
    async with db.engine.begin() as conn:
        names = (
            await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"
                )
            )
        ).scalars()
        tables = ", ".join(f'"{n}"' for n in names)
        if tables:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(database_url_for(tmp_path))
    if database.is_postgres:
        await _reset_postgres(database)
    else:
        await migrate.upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url_for(tmp_path),
        admin_ids=frozenset({ADMIN_ID}),
        telegram_token=None,
    )


@pytest.fixture
def services(settings: Settings, db: Database, clock: FakeClock) -> Services:
    return Services.build(settings, db=db, clock=clock)


@pytest.fixture
def api() -> InProcessBotAPI:
    return InProcessBotAPI()


@pytest.fixture
async def app(services: Services, api: InProcessBotAPI) -> AsyncIterator[CareBotApp]:
    application = build_application(services, request=api)
    async with application:
        yield application


ChatFactory = Callable[..., ChatSession]


@pytest.fixture
def chat(app: CareBotApp, api: InProcessBotAPI) -> ChatFactory:
    """``chat(user_id, language_code)`` opens a private chat with a simulated user."""

    def open_chat(
        user_id: int = 1001, language_code: str | None = "zh-hans", first_name: str = "测试"
    ) -> ChatSession:
        return ChatSession(
            app, api, SimulatedUser(user_id, first_name=first_name, language_code=language_code)
        )

    return open_chat


OnboardFn = Callable[[ChatSession, str, str], Awaitable[None]]


async def onboard(
    session: ChatSession, role: str = "parent", district: str = "思明区", locale: str = "zh_Hans"
) -> None:
    """Walk a user through /start to consent."""
    await session.send("/start")
    await session.press(f"ob:l:{locale}")
    await session.press(f"ob:r:{role}")
    await session.press(f"ob:d:{role}:{district}")
    await session.press(f"ob:c:{role}:{district}")
