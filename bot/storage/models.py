"""The table models of the core: users and their choices, the audit log, answer feedback.

Domain packages keep their own tables beside their code; this module imports them so that the
metadata (and Alembic) sees every table.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from bot.clock import utcnow
from bot.storage.types import UTCDateTime


class Role(enum.StrEnum):
    """What a user does with the bot: 家长, 托育机构, 卫健委."""

    PARENT = "parent"
    OPERATOR = "operator"
    COMMISSION = "commission"


class User(SQLModel, table=True):
    """A person who has started the bot. Only ``language`` is kept before consent."""

    __tablename__ = "users"
    # Broadcast audiences are chosen by role and district.
    __table_args__ = (Index("ix_users_role_district", "role", "district"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    language: str | None = Field(default=None, max_length=16)
    role: str | None = Field(default=None, max_length=16)
    district: str | None = Field(default=None, max_length=64)
    consent_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    broadcasts_enabled: bool = Field(default=True)
    blocked_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class AuditEvent(SQLModel, table=True):
    """A privileged action: who (may be emptied when they ask to be forgotten), what, on what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_actor", "actor_id"),
        {"info": {"personal_key": "actor_id", "on_forget": "anonymise"}},
    )

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=128)
    details: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AnswerFeedback(SQLModel, table=True):
    """A "helpful / not helpful" vote on a knowledge-base answer; anonymous by design."""

    __tablename__ = "answer_feedback"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: str = Field(max_length=128, index=True)
    helpful: bool
    at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class UnansweredQuestion(SQLModel, table=True):
    """A question the bot could not answer, kept for the commission: text and time, never who asked."""

    __tablename__ = "unanswered_questions"

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


from bot.directory import models as _directory  # noqa: E402,F401,I001
from schedules import broadcasts as _broadcasts  # noqa: E402,F401,I001  (and bot.staff's staff_grants)
from schedules import obligations as _obligations, outbox as _outbox  # noqa: E402,F401
