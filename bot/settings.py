"""The one typed settings object, read once at start-up from the environment (and a ``.env`` file).

A bad value stops the program with one line that names the variable and says what it expects.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_FILE = "carebot.sqlite3"
XIAMEN_DISTRICTS = ("思明区", "湖里区", "海沧区", "集美区", "同安区", "翔安区")


class SettingsError(Exception):
    """A configuration value is missing or malformed; the message is meant for the operator."""


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"


class Settings(BaseSettings):
    """Every setting of DESIGN.md's configuration table, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="CAREBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    telegram_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("CAREBOT_TELEGRAM_TOKEN", "TELEGRAM_BOT_TOKEN"),
    )
    telegram_api_url: str | None = None
    database_url: str = Field(default_factory=default_database_url)
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    timezone: str = "Asia/Shanghai"
    broadcast_rate: float = 25.0
    paid_broadcast: bool = False
    # With paid broadcasting, campaign messages go at this rate; everything else stays at broadcast_rate.
    paid_broadcast_rate: float = 1000.0
    # Seconds a claimed outbox row may stay "sending" before another dispatcher takes it back: after a
    # crash, these rows go again (at most they arrive twice).
    outbox_lease: float = 60.0
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    districts: Annotated[tuple[str, ...], NoDecode] = XIAMEN_DISTRICTS
    city: str = "厦门"
    province: str = "福建"
    # Resident population, for places per 1,000 residents; no default: the bot does not guess it.
    population: int | None = None

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            ids = []
            for part in parts:
                if not part.lstrip("-").isdigit():
                    raise ValueError(f"expected comma-separated numeric Telegram user ids, got {part!r}")
                ids.append(int(part))
            return frozenset(ids)
        return value

    @field_validator("districts", mode="before")
    @classmethod
    def _parse_districts(cls, value: object) -> object:
        if isinstance(value, str):
            names = tuple(p.strip() for p in value.replace("，", ",").split(",") if p.strip())
            if not names:
                raise ValueError("expected a comma-separated list of district names")
            return names
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"expected an IANA time zone such as Asia/Shanghai, got {value!r}") from exc
        return value

    @field_validator("broadcast_rate", "paid_broadcast_rate")
    @classmethod
    def _check_rate(cls, value: float) -> float:
        if not 0 < value <= 1000:
            raise ValueError("expected messages per second between 0 and 1000")
        return value

    @field_validator("outbox_lease")
    @classmethod
    def _check_lease(cls, value: float) -> float:
        if not 1 <= value <= 3600:
            raise ValueError("expected seconds between 1 and 3600")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
            raise ValueError(
                "expected an async SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
            )
        return value

    @field_validator("telegram_api_url", "webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def token(self) -> str | None:
        return self.telegram_token.get_secret_value() if self.telegram_token else None

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_ids


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; raise SettingsError with one line naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        variable = (
            field.upper() if field.startswith(("CAREBOT_", "TELEGRAM_")) else f"CAREBOT_{field.upper()}"
        )
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{variable}: {message}") from None
