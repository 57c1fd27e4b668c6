"""The audit log of privileged actions (claims, grants, broadcasts, deletions).

Rows name the actor; when a person asks to be forgotten their id is removed but the event stays.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from bot.clock import Clock
from bot.storage.db import Database
from bot.storage.models import AuditEvent


async def record(
    db: Database,
    clock: Clock,
    *,
    actor_id: int | None,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    async with db.session() as session:
        session.add(
            AuditEvent(
                at=clock.now(),
                actor_id=actor_id,
                action=action,
                target=target,
                details=json.dumps(details, ensure_ascii=False, sort_keys=True) if details else None,
            )
        )


async def recent(db: Database, limit: int = 50) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))  # type: ignore[union-attr]
        return list(rows)
