"""Commission broadcasts (群发): audiences, the campaign repository, the fan-out of a campaign into the
outbox (batched and resumable), progress, cancellation and the per-recipient report. No telegram here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import html.parser
import math
import re
import zoneinfo
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, SQLModel

from bot import audit
from bot import staff as staff_rights
from bot.clock import Clock, utcnow
from bot.i18n import DEFAULT_LOCALE, LOCALES, N_, normalize_locale, translator
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import Role, User
from bot.storage.types import UTCDateTime
from schedules.outbox import BROADCAST_KIND, OUTBOX, PRIORITY_BROADCAST, NewMessage, Outbox, OutboxState
from schedules.pacing import FREE_RATE

KIND = BROADCAST_KIND
PARSE_MODE = "HTML"
MAX_TEXT_LENGTH = 4096
# People fanned out per transaction: big enough to be quick, small enough to keep each write short.
FANOUT_CHUNK = 1000
# A scheduled campaign is fanned out this long before its time, so a million rows are ready when it
# starts; the rows wait for ``scheduled_at`` in the outbox.
FANOUT_LEAD = dt.timedelta(minutes=10)
MAX_SCHEDULE_AHEAD = dt.timedelta(days=60)
# A row that was in flight when its campaign was cancelled can come back to pending (a retry after a
# 5xx, a 429 pause); cancelled campaigns are swept again for this long, longer than the longest backoff.
RECANCEL_WINDOW = dt.timedelta(hours=3)
REPORT_PAGE = 5000

# The price of each message above Telegram's free broadcasting limit, with allow_paid_broadcast.
STARS_PER_PAID_MESSAGE = 0.1

UNSUBSCRIBE_LABEL = N_("Turn these messages off")
UNSUBSCRIBE_DATA = "sub:off"


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


ACTIVE = (CampaignState.SCHEDULED.value, CampaignState.SENDING.value)


class AudienceGroup(enum.StrEnum):
    """Who a campaign is for. There is no filter by the child's age band: the bot stores no child data
    yet, so one cannot be offered honestly."""

    ALL = "all"
    PARENTS = "parents"
    OPERATORS = "operators"


GROUP_ROLES = {AudienceGroup.PARENTS: Role.PARENT, AudienceGroup.OPERATORS: Role.OPERATOR}


class Broadcast(SQLModel, table=True):
    """A campaign: a text for an audience, sent now or at ``scheduled_at``; its rows are in the outbox."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        Index("ix_broadcasts_state", "state", "scheduled_at"),
        Index("ix_broadcasts_author", "author_id"),
        {"info": {"personal_key": "author_id", "on_forget": "anonymise"}},
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    )
    # NULL for campaigns made on the command line, and once the author asked to be forgotten.
    author_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    text: str = Field(sa_column=Column(Text, nullable=False))
    parse_mode: str | None = Field(default=PARSE_MODE, sa_column=Column(String(16), nullable=True))
    audience: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    scheduled_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    state: str = Field(default=CampaignState.DRAFT.value, sa_column=Column(String(16), nullable=False))
    total: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # The fan-out walks the audience by user id; the last id queued, so a restart carries on from there.
    fanout_cursor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    fanned_out_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # The staff member's message that shows progress (in the author's private chat).
    progress_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    progress_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    progress_closed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    started_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    finished_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


BROADCASTS: Table = Broadcast.__table__  # type: ignore[attr-defined]
USERS: Table = User.__table__  # type: ignore[attr-defined]


class BroadcastError(Exception):
    """A request about a campaign that cannot be honoured; ``code`` says why, ``detail`` names the part."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


# -- the text -----------------------------------------------------------------------------------
# Telegram's HTML subset: these tags, and only these attributes on them.
ALLOWED_TAGS: dict[str, frozenset[str]] = {
    "b": frozenset(), "strong": frozenset(), "i": frozenset(), "em": frozenset(), "u": frozenset(),
    "ins": frozenset(), "s": frozenset(), "strike": frozenset(), "del": frozenset(),
    "tg-spoiler": frozenset(), "span": frozenset({"class"}), "a": frozenset({"href"}),
    "code": frozenset({"class"}), "pre": frozenset(), "blockquote": frozenset({"expandable"}),
    "tg-emoji": frozenset({"emoji-id"}),
}  # fmt: skip
ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
_LINK = re.compile(r"^(https?://|tg://|mailto:)\S+$", re.IGNORECASE)


class _Checker(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problem: str | None = None
        self.visible = 0

    def _fail(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        allowed = ALLOWED_TAGS.get(tag)
        if allowed is None:
            self._fail(f"<{tag}> is not supported")
            return
        for name, _value in attrs:
            if name not in allowed:
                self._fail(f'<{tag} {name}="…"> is not supported')
        values = dict(attrs)
        if tag == "a" and not _LINK.match(values.get("href") or ""):
            self._fail("<a> needs href with an http(s):// or tg:// link")
        if tag == "span" and values.get("class") != "tg-spoiler":
            self._fail('<span> needs class="tg-spoiler"')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f"<{tag}/> is not supported")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self._fail(f"</{tag}> does not close the last opened tag")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data:
            self._fail("a < that is not a tag: write &lt;")
        self.visible += len(data.strip())

    def handle_entityref(self, name: str) -> None:
        if name not in ENTITIES:
            self._fail(f"&{name}; is not supported: use &lt; &gt; &amp; &quot; or the character itself")
        self.visible += 1

    def handle_charref(self, name: str) -> None:
        self.visible += 1

    def handle_comment(self, data: str) -> None:
        self._fail("comments are not supported")

    def handle_decl(self, decl: str) -> None:
        self._fail("declarations are not supported")

    def unknown_decl(self, data: str) -> None:
        self._fail("declarations are not supported")

    def handle_pi(self, data: str) -> None:
        self._fail("processing instructions are not supported")


def html_problem(text: str) -> str | None:
    """What Telegram would refuse in a text sent with parse_mode HTML (None when it is fine).

    Stricter than Telegram where Telegram is lenient, so that what passes here is delivered everywhere.
    """
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.problem:
        return checker.problem
    if checker.stack:
        return f"<{checker.stack[-1]}> is never closed"
    if checker.visible == 0:
        return "there is no text outside the tags"
    return None


def check_text(text: str) -> str:
    """The campaign text, or BroadcastError("empty" / "too_long" / "html")."""
    text = text.strip()
    if not text:
        raise BroadcastError("empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise BroadcastError("too_long", str(len(text)))
    problem = html_problem(text)
    if problem:
        raise BroadcastError("html", problem)
    return text


def unsubscribe_markup(locale: str | None) -> dict[str, Any]:
    """The "turn these off" button under every broadcast, in the recipient's language."""
    label = translator(locale)(UNSUBSCRIBE_LABEL)
    return {"inline_keyboard": [[{"text": label, "callback_data": UNSUBSCRIBE_DATA}]]}


# -- audiences ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Audience:
    """Who receives a campaign: a group, optionally narrowed to districts and an interface language.

    Everyone means every person who started the bot, has not turned broadcasts off and has not blocked
    the bot, whether or not they finished onboarding.
    """

    group: AudienceGroup = AudienceGroup.ALL
    districts: tuple[str, ...] = ()
    language: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"group": self.group.value, "districts": list(self.districts), "language": self.language}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Audience:
        data = data or {}
        return cls(
            group=AudienceGroup(data.get("group") or AudienceGroup.ALL.value),
            districts=tuple(data.get("districts") or ()),
            language=data.get("language") or None,
        )

    def with_group(self, group: AudienceGroup) -> Audience:
        return dataclasses.replace(self, group=group)

    def toggle_district(self, district: str) -> Audience:
        chosen = [d for d in self.districts if d != district]
        if len(chosen) == len(self.districts):
            chosen.append(district)
        return dataclasses.replace(self, districts=tuple(chosen))

    def with_districts(self, districts: Sequence[str]) -> Audience:
        return dataclasses.replace(self, districts=tuple(districts))

    def with_language(self, language: str | None) -> Audience:
        return dataclasses.replace(self, language=language)

    def conditions(self) -> list[ColumnElement[bool]]:
        u = USERS.c
        found: list[ColumnElement[bool]] = [u.broadcasts_enabled.is_(True), u.blocked_at.is_(None)]
        role = GROUP_ROLES.get(self.group)
        if role is not None:
            found.append(u.role == role.value)
        if self.districts:
            found.append(u.district.in_(list(self.districts)))
        if self.language:
            # A person who never chose a language is written to in the default one (so the dispatcher
            # renders their templates), so they belong to that language's audience.
            if self.language == DEFAULT_LOCALE:
                found.append(or_(u.language.is_(None), u.language == self.language))
            else:
                found.append(u.language == self.language)
        return found


def parse_language(value: str | None) -> str | None:
    """A language filter from user input ("zh-hant", "en", "any"); BroadcastError when unknown."""
    if value is None or value.strip().lower() in ("", "any", "*"):
        return None
    code = value.strip().replace("-", "_").lower()
    for locale in LOCALES:
        if code == locale.lower():
            return locale
    if code in ("zh", "zh_cn"):
        return normalize_locale(code)
    raise BroadcastError("unknown_language", value)


# -- what callers see ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Campaign:
    id: int
    author_id: int | None
    text: str
    parse_mode: str | None
    audience: Audience
    scheduled_at: dt.datetime | None
    state: CampaignState
    total: int
    fanned_out: bool
    progress_message_id: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.state.value in ACTIVE

    @property
    def finished(self) -> bool:
        return self.state in (CampaignState.DONE, CampaignState.CANCELLED)

    @classmethod
    def from_row(cls, row: Any) -> Campaign:
        m = row._mapping
        return cls(
            id=int(m["id"]),
            author_id=m["author_id"],
            text=m["text"],
            parse_mode=m["parse_mode"],
            audience=Audience.from_json(m["audience"]),
            scheduled_at=m["scheduled_at"],
            state=CampaignState(m["state"]),
            total=int(m["total"]),
            fanned_out=m["fanned_out_at"] is not None,
            progress_message_id=m["progress_message_id"],
            created_at=m["created_at"],
            started_at=m["started_at"],
            finished_at=m["finished_at"],
        )


@dataclasses.dataclass(frozen=True)
class Estimate:
    """How long a campaign takes at the configured rate and, with paid broadcasting, what it costs.

    The cost is an estimate: Telegram charges 0.1 Star for each message above the free 30 a second,
    so at ``rate`` messages a second a share of (rate − 30) / rate of them is paid.
    """

    recipients: int
    rate: float
    seconds: float
    paid: bool
    paid_messages: int
    stars: float

    @classmethod
    def of(cls, recipients: int, rate: float, *, paid: bool) -> Estimate:
        paid_messages = math.ceil(recipients * max(0.0, rate - FREE_RATE) / rate) if paid else 0
        return cls(
            recipients=recipients,
            rate=rate,
            seconds=recipients / rate if rate > 0 else 0.0,
            paid=paid,
            paid_messages=paid_messages,
            stars=round(paid_messages * STARS_PER_PAID_MESSAGE, 1),
        )


@dataclasses.dataclass(frozen=True)
class Progress:
    """A campaign's figures from its outbox rows, plus the part of the audience not queued yet."""

    campaign: Campaign
    sent: int
    failed: int
    blocked: int
    cancelled: int
    in_outbox: int  # pending or being sent
    unqueued: int
    rate: float
    now: dt.datetime

    @property
    def total(self) -> int:
        return self.campaign.total + self.unqueued

    @property
    def remaining(self) -> int:
        return self.in_outbox + self.unqueued

    @property
    def finished(self) -> bool:
        return self.campaign.finished

    @property
    def estimated_finish(self) -> dt.datetime | None:
        """When the rest is out at the configured rate, if nothing else is sent meanwhile."""
        if self.finished or self.campaign.state is CampaignState.DRAFT:
            return None
        start = max(self.now, self.campaign.scheduled_at or self.now)
        return start + dt.timedelta(seconds=self.remaining / self.rate)

    def as_dict(self) -> dict[str, Any]:
        c = self.campaign
        finish = self.estimated_finish
        return {
            "id": c.id,
            "state": c.state.value,
            "audience": c.audience.as_json(),
            "scheduled_at": c.scheduled_at.isoformat() if c.scheduled_at else None,
            "created_at": c.created_at.isoformat(),
            "started_at": c.started_at.isoformat() if c.started_at else None,
            "finished_at": c.finished_at.isoformat() if c.finished_at else None,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "blocked": self.blocked,
            "cancelled": self.cancelled,
            "remaining": self.remaining,
            "estimated_finish": finish.isoformat() if finish else None,
        }


@dataclasses.dataclass
class FanOut:
    chunks: int = 0
    queued: int = 0
    complete: bool = False


@dataclasses.dataclass
class Advance:
    """What one pass of ``Campaigns.advance`` did."""

    started: list[int] = dataclasses.field(default_factory=list)
    queued: int = 0
    finished: list[int] = dataclasses.field(default_factory=list)
    dropped: int = 0


@dataclasses.dataclass(frozen=True)
class Cancellation:
    campaign: Campaign
    dropped: int  # queued messages that will not be sent
    not_queued: int  # people of the audience the fan-out had not reached yet


@dataclasses.dataclass(frozen=True)
class ReportRow:
    user_id: int
    state: str
    sent_at: dt.datetime | None
    error: str | None


_UNSET: Any = object()


# -- the repository -----------------------------------------------------------------------------
class Campaigns:
    """Broadcast campaigns and their delivery. ``actor_id`` None means the operator's command line;
    a Telegram user must be staff, and only the author may change a draft."""

    def __init__(self, db: Database, clock: Clock, settings: Settings, *, chunk: int = FANOUT_CHUNK) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._chunk = chunk
        self.outbox = Outbox(db, clock)
        self.staff = staff_rights.Staff(db, clock, settings)

    @property
    def rate(self) -> float:
        """How fast a campaign goes: the paid rate with paid broadcasting, else the one for all sending."""
        settings = self._settings
        return settings.paid_broadcast_rate if settings.paid_broadcast else settings.broadcast_rate

    def estimate(self, recipients: int) -> Estimate:
        return Estimate.of(recipients, self.rate, paid=self._settings.paid_broadcast)

    # -- audiences ---------------------------------------------------------------------------
    def check_audience(self, audience: Audience) -> Audience:
        unknown = [d for d in audience.districts if d not in self._settings.districts]
        if unknown:
            raise BroadcastError("unknown_district", unknown[0])
        if audience.language is not None and audience.language not in LOCALES:
            raise BroadcastError("unknown_language", audience.language)
        return audience

    async def count(self, audience: Audience, *, after: int | None = None) -> int:
        """How many people the audience has now (beyond user id ``after``, for a fan-out under way)."""
        stmt = select(func.count()).select_from(USERS).where(*audience.conditions())
        if after is not None:
            stmt = stmt.where(USERS.c.id > after)
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(stmt)).scalar() or 0)

    async def recipients(self, audience: Audience) -> list[int]:
        """Every user id in the audience, in id order (for tests and small audiences)."""
        stmt = select(USERS.c.id).where(*audience.conditions()).order_by(USERS.c.id)
        async with self._db.engine.connect() as conn:
            return [int(u) for u in (await conn.execute(stmt)).scalars()]

    # -- drafts (the Telegram flow) ----------------------------------------------------------
    async def create_draft(self, author_id: int, text: str, audience: Audience | None = None) -> Campaign:
        await self._require_staff(author_id)
        text = check_text(text)
        audience = self.check_audience(audience or Audience())
        return await self._insert(author_id, text, audience, CampaignState.DRAFT, None, self._clock.now())

    async def _insert(
        self,
        author_id: int | None,
        text: str,
        audience: Audience,
        state: CampaignState,
        scheduled_at: dt.datetime | None,
        now: dt.datetime,
    ) -> Campaign:
        """Store a new campaign (text and audience already checked) and return it."""
        async with self._db.engine.begin() as conn:
            row = (
                await conn.execute(
                    BROADCASTS.insert()
                    .values(
                        author_id=author_id,
                        text=text,
                        parse_mode=PARSE_MODE,
                        audience=audience.as_json(),
                        scheduled_at=scheduled_at,
                        state=state.value,
                        total=0,
                        progress_closed=False,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(*BROADCASTS.c)
                )
            ).one()
        return Campaign.from_row(row)

    async def update_draft(
        self,
        campaign_id: int,
        author_id: int,
        *,
        text: str | None = None,
        audience: Audience | None = None,
        scheduled_at: dt.datetime | None = _UNSET,
    ) -> Campaign:
        """Change a draft's text, audience or time; only its author may, and only while it is a draft."""
        await self._require_staff(author_id)
        values: dict[str, Any] = {"updated_at": self._clock.now()}
        if text is not None:
            values["text"] = check_text(text)
        if audience is not None:
            values["audience"] = self.check_audience(audience).as_json()
        if scheduled_at is not _UNSET:
            values["scheduled_at"] = self._check_time(scheduled_at)
        return await self._update_draft(campaign_id, author_id, values)

    async def discard(self, campaign_id: int, author_id: int) -> None:
        """Delete a draft: nothing was sent, so nothing is worth keeping."""
        await self._require_staff(author_id)
        await self._draft_of(campaign_id, author_id)
        b = BROADCASTS.c
        async with self._db.engine.begin() as conn:
            await conn.execute(
                delete(BROADCASTS).where(
                    b.id == campaign_id, b.author_id == author_id, b.state == CampaignState.DRAFT.value
                )
            )

    async def confirm(self, campaign_id: int, author_id: int) -> Campaign:
        """The second step: the draft becomes a scheduled campaign. A time that has passed means now."""
        await self._require_staff(author_id)
        draft = await self._draft_of(campaign_id, author_id)
        now = self._clock.now()
        when = max(now, draft.scheduled_at) if draft.scheduled_at else now
        campaign = await self._update_draft(
            campaign_id,
            author_id,
            {"state": CampaignState.SCHEDULED.value, "scheduled_at": when, "updated_at": now},
        )
        await self._audit_created(campaign, author_id)
        return campaign

    # -- straight to scheduled (the command line) --------------------------------------------
    async def create(
        self,
        text: str,
        audience: Audience,
        *,
        author_id: int | None = None,
        scheduled_at: dt.datetime | None = None,
    ) -> Campaign:
        if author_id is not None:
            await self._require_staff(author_id)
        text = check_text(text)
        audience = self.check_audience(audience)
        now = self._clock.now()
        when = self._check_time(scheduled_at) or now
        campaign = await self._insert(author_id, text, audience, CampaignState.SCHEDULED, max(now, when), now)
        await self._audit_created(campaign, author_id)
        return campaign

    # -- reading -----------------------------------------------------------------------------
    async def get(self, campaign_id: int) -> Campaign | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(BROADCASTS).where(BROADCASTS.c.id == campaign_id))).first()
        return Campaign.from_row(row) if row else None

    async def require(self, campaign_id: int) -> Campaign:
        campaign = await self.get(campaign_id)
        if campaign is None:
            raise BroadcastError("not_found", str(campaign_id))
        return campaign

    async def progress(self, campaign_id: int) -> Progress:
        """The campaign's figures now; a campaign whose last row went out is closed on the way."""
        await self.settle(campaign_id)
        campaign = await self.require(campaign_id)
        counts = await self.outbox.counts(campaign_id=campaign_id)
        return await self._progress(campaign, counts)

    async def recent(self, limit: int = 10) -> list[Progress]:
        """The latest campaigns (drafts left out), newest first, with their figures."""
        stmt = (
            select(BROADCASTS)
            .where(BROADCASTS.c.state != CampaignState.DRAFT.value)
            .order_by(BROADCASTS.c.id.desc())
            .limit(limit)
        )
        async with self._db.engine.connect() as conn:
            campaigns = [Campaign.from_row(r) for r in await conn.execute(stmt)]
            by_campaign: dict[int, dict[OutboxState, int]] = {
                c.id: dict.fromkeys(OutboxState, 0) for c in campaigns
            }
            if campaigns:
                rows = await conn.execute(
                    select(OUTBOX.c.campaign_id, OUTBOX.c.state, func.count())
                    .where(OUTBOX.c.campaign_id.in_(list(by_campaign)))
                    .group_by(OUTBOX.c.campaign_id, OUTBOX.c.state)
                )
                for campaign_id, state, count in rows:
                    by_campaign[int(campaign_id)][OutboxState(state)] = int(count)
        return [await self._progress(c, by_campaign[c.id]) for c in campaigns]

    async def report(self, campaign_id: int) -> AsyncIterator[ReportRow]:
        """Every recipient's outcome, page by page in outbox order (a million rows never sit in memory)."""
        await self.require(campaign_id)
        t = OUTBOX
        last = 0
        while True:
            stmt = (
                select(t.c.id, t.c.recipient_id, t.c.state, t.c.sent_at, t.c.last_error)
                .where(t.c.campaign_id == campaign_id, t.c.id > last)
                .order_by(t.c.id)
                .limit(REPORT_PAGE)
            )
            async with self._db.engine.connect() as conn:
                rows = list(await conn.execute(stmt))
            if not rows:
                return
            for row in rows:
                sent_at = row.sent_at
                yield ReportRow(int(row.recipient_id), str(row.state), sent_at, row.last_error)
            last = int(rows[-1].id)

    # -- moving campaigns along --------------------------------------------------------------
    async def advance(self, *, campaign_id: int | None = None, max_chunks: int | None = None) -> Advance:
        """Start campaigns whose time has come, fan out (at most ``max_chunks`` batches), close the
        finished ones, and sweep cancelled ones. Idempotent: a job calls it every few seconds."""
        now = self._clock.now()
        report = Advance()
        b = BROADCASTS.c
        only = [b.id == campaign_id] if campaign_id is not None else []
        async with self._db.engine.begin() as conn:
            started = await conn.execute(
                update(BROADCASTS)
                .where(b.state == CampaignState.SCHEDULED.value, b.scheduled_at <= now, *only)
                .values(state=CampaignState.SENDING.value, started_at=now, updated_at=now)
                .returning(b.id)
            )
            report.started = sorted(int(i) for i in started.scalars())
        async with self._db.engine.connect() as conn:
            due = list(
                (
                    await conn.execute(
                        select(b.id)
                        .where(
                            b.state.in_(ACTIVE),
                            b.fanned_out_at.is_(None),
                            b.scheduled_at <= now + FANOUT_LEAD,
                            *only,
                        )
                        .order_by(b.scheduled_at, b.id)
                    )
                ).scalars()
            )
        budget = max_chunks
        for due_id in due:
            if budget is not None and budget <= 0:
                break
            fan = await self.fan_out(int(due_id), max_chunks=budget)
            report.queued += fan.queued
            if budget is not None:
                budget -= fan.chunks
        async with self._db.engine.connect() as conn:
            sending = list(
                (
                    await conn.execute(
                        select(b.id).where(
                            b.state == CampaignState.SENDING.value, b.fanned_out_at.is_not(None), *only
                        )
                    )
                ).scalars()
            )
            cancelled = list(
                (
                    await conn.execute(
                        select(b.id).where(
                            b.state == CampaignState.CANCELLED.value,
                            b.finished_at >= now - RECANCEL_WINDOW,
                            b.started_at.is_not(None) | b.fanout_cursor.is_not(None),
                            *only,
                        )
                    )
                ).scalars()
            )
        for sending_id in sending:
            if await self.settle(int(sending_id)):
                report.finished.append(int(sending_id))
        for cancelled_id in cancelled:
            report.dropped += await self.outbox.cancel(campaign_id=int(cancelled_id))
        return report

    async def fan_out(self, campaign_id: int, *, max_chunks: int | None = None) -> FanOut:
        """Queue the campaign's audience in the outbox, ``chunk`` people per transaction.

        Each transaction moves the cursor with the rows it inserts, and inserting is insert-or-ignore by
        key, so a crash, a second process or a re-run never queues anyone twice.
        """
        report = FanOut()
        while max_chunks is None or report.chunks < max_chunks:
            queued, complete = await self._fan_out_chunk(campaign_id)
            if queued is None:
                break
            report.chunks += 1
            report.queued += queued
            if complete:
                report.complete = True
                break
        return report

    async def _fan_out_chunk(self, campaign_id: int) -> tuple[int | None, bool]:
        now = self._clock.now()
        b = BROADCASTS.c
        async with self._db.engine.begin() as conn:
            # A write first: it takes the campaign's row lock (PostgreSQL) or the write lock (SQLite)
            # before anything is read, so a cancel in between cannot be missed.
            row = (
                await conn.execute(
                    update(BROADCASTS)
                    .where(b.id == campaign_id, b.state.in_(ACTIVE), b.fanned_out_at.is_(None))
                    .values(updated_at=now)
                    .returning(b.audience, b.fanout_cursor, b.text, b.parse_mode, b.scheduled_at)
                )
            ).first()
            if row is None:
                return None, False
            audience = Audience.from_json(row.audience)
            stmt = select(USERS.c.id, USERS.c.language).where(*audience.conditions())
            if row.fanout_cursor is not None:
                stmt = stmt.where(USERS.c.id > row.fanout_cursor)
            people = list(await conn.execute(stmt.order_by(USERS.c.id).limit(self._chunk)))
            if not people:
                await conn.execute(
                    update(BROADCASTS).where(b.id == campaign_id).values(fanned_out_at=now, updated_at=now)
                )
                return 0, True
            markups: dict[str, dict[str, Any]] = {}
            messages = []
            for person in people:
                locale = normalize_locale(person.language)
                markup = markups.get(locale) or markups.setdefault(locale, unsubscribe_markup(locale))
                messages.append(
                    NewMessage(
                        key=recipient_key(campaign_id, int(person.id)),
                        recipient_id=int(person.id),
                        kind=KIND,
                        text=row.text,
                        parse_mode=row.parse_mode,
                        reply_markup=markup,
                        campaign_id=campaign_id,
                        priority=PRIORITY_BROADCAST,
                        not_before=row.scheduled_at,
                    )
                )
            inserted = await self.outbox.enqueue_many(messages, conn=conn)
            last = int(people[-1].id)
            await conn.execute(
                update(BROADCASTS)
                .where(b.id == campaign_id)
                .values(fanout_cursor=last, total=b.total + len(inserted), updated_at=now)
            )
            return len(inserted), False

    async def settle(self, campaign_id: int) -> bool:
        """Close a fully fanned-out campaign with nothing left to send; True when this call closed it."""
        campaign = await self.get(campaign_id)
        if campaign is None or campaign.state is not CampaignState.SENDING or not campaign.fanned_out:
            return False
        # One index probe, not a count: this runs every few seconds through a million-row campaign.
        waiting = (
            select(OUTBOX.c.id)
            .where(
                OUTBOX.c.campaign_id == campaign_id,
                OUTBOX.c.state.in_([OutboxState.PENDING.value, OutboxState.SENDING.value]),
            )
            .limit(1)
        )
        async with self._db.engine.connect() as conn:
            if (await conn.execute(waiting)).first() is not None:
                return False
        now = self._clock.now()
        b = BROADCASTS.c
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(BROADCASTS)
                .where(b.id == campaign_id, b.state == CampaignState.SENDING.value)
                .values(state=CampaignState.DONE.value, finished_at=now, updated_at=now)
            )
        return bool(result.rowcount)

    async def cancel(self, campaign_id: int, actor_id: int | None = None) -> Cancellation:
        """Stop a campaign: queued messages not sent yet are dropped; messages in flight still arrive."""
        if actor_id is not None:
            await self._require_staff(actor_id)
        campaign = await self.require(campaign_id)
        if not campaign.active:
            raise BroadcastError("not_active", campaign.state.value)
        not_queued = 0 if campaign.fanned_out else await self._unqueued(campaign)
        now = self._clock.now()
        b = BROADCASTS.c
        # The state changes first: a fan-out batch then either committed before (and its rows are
        # cancelled below) or sees the state and queues nothing.
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(BROADCASTS)
                .where(b.id == campaign_id, b.state.in_(ACTIVE))
                .values(state=CampaignState.CANCELLED.value, finished_at=now, updated_at=now)
            )
        if not result.rowcount:
            raise BroadcastError("not_active", "")
        dropped = await self.outbox.cancel(campaign_id=campaign_id)
        await audit.record(
            self._db,
            self._clock,
            actor_id=actor_id,
            action="broadcast.cancelled",
            target=str(campaign_id),
            details={"dropped": dropped, "not_queued": not_queued, "via": "telegram" if actor_id else "cli"},
        )
        return Cancellation(await self.require(campaign_id), dropped, not_queued)

    # -- the staff member's progress message -------------------------------------------------
    async def set_progress_message(self, campaign_id: int, message_id: int | None) -> None:
        async with self._db.engine.begin() as conn:
            await conn.execute(
                update(BROADCASTS)
                .where(BROADCASTS.c.id == campaign_id)
                .values(progress_message_id=message_id, progress_at=self._clock.now())
            )

    async def claim_progress_update(self, campaign_id: int, *, interval: dt.timedelta, final: bool) -> bool:
        """True when this caller should edit the progress message now: at most once per ``interval``,
        and the final edit exactly once, however many processes ask."""
        now = self._clock.now()
        b = BROADCASTS.c
        conditions: list[ColumnElement[bool]] = [
            b.id == campaign_id,
            b.progress_closed.is_(False),
            b.progress_message_id.is_not(None),
        ]
        if not final:
            conditions.append(or_(b.progress_at.is_(None), b.progress_at <= now - interval))
        values: dict[str, Any] = {"progress_at": now}
        if final:
            values["progress_closed"] = True
        async with self._db.engine.begin() as conn:
            result = await conn.execute(update(BROADCASTS).where(*conditions).values(values))
        return bool(result.rowcount)

    async def open_progress(self) -> list[Campaign]:
        """Campaigns whose progress message still needs updates (for the job that keeps them current)."""
        b = BROADCASTS.c
        stmt = select(BROADCASTS).where(
            b.progress_closed.is_(False),
            b.progress_message_id.is_not(None),
            b.author_id.is_not(None),
            b.state != CampaignState.DRAFT.value,
        )
        async with self._db.engine.connect() as conn:
            return [Campaign.from_row(r) for r in await conn.execute(stmt)]

    # -- helpers -----------------------------------------------------------------------------
    async def _progress(self, campaign: Campaign, counts: dict[OutboxState, int]) -> Progress:
        unqueued = 0
        if campaign.state is CampaignState.DRAFT or (campaign.active and not campaign.fanned_out):
            unqueued = await self._unqueued(campaign)
        return Progress(
            campaign=campaign,
            sent=counts[OutboxState.SENT],
            failed=counts[OutboxState.FAILED],
            blocked=counts[OutboxState.BLOCKED],
            cancelled=counts[OutboxState.CANCELLED],
            in_outbox=counts[OutboxState.PENDING] + counts[OutboxState.SENDING],
            unqueued=unqueued,
            rate=self.rate,
            now=self._clock.now(),
        )

    async def _unqueued(self, campaign: Campaign) -> int:
        async with self._db.engine.connect() as conn:
            cursor = (
                await conn.execute(select(BROADCASTS.c.fanout_cursor).where(BROADCASTS.c.id == campaign.id))
            ).scalar()
        return await self.count(campaign.audience, after=cursor)

    async def _require_staff(self, user_id: int) -> None:
        if not await self.staff.is_staff(user_id):
            raise BroadcastError("not_staff", str(user_id))

    async def _draft_of(self, campaign_id: int, author_id: int) -> Campaign:
        campaign = await self.require(campaign_id)
        if campaign.author_id != author_id:
            raise BroadcastError("not_author", str(campaign_id))
        if campaign.state is not CampaignState.DRAFT:
            raise BroadcastError("not_draft", campaign.state.value)
        return campaign

    async def _update_draft(self, campaign_id: int, author_id: int, values: dict[str, Any]) -> Campaign:
        await self._draft_of(campaign_id, author_id)
        b = BROADCASTS.c
        async with self._db.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(BROADCASTS)
                    .where(
                        b.id == campaign_id, b.author_id == author_id, b.state == CampaignState.DRAFT.value
                    )
                    .values(values)
                    .returning(*BROADCASTS.c)
                )
            ).first()
        if row is None:  # confirmed or discarded by a second press in the meantime
            raise BroadcastError("not_draft", "")
        return Campaign.from_row(row)

    def _check_time(self, moment: dt.datetime | None) -> dt.datetime | None:
        if moment is None:
            return None
        if moment.tzinfo is None:
            raise ValueError("a campaign's time must be timezone-aware")
        now = self._clock.now()
        if moment < now - dt.timedelta(minutes=1):
            raise BroadcastError("past", moment.isoformat())
        if moment > now + MAX_SCHEDULE_AHEAD:
            raise BroadcastError("too_far", moment.isoformat())
        return moment.astimezone(dt.UTC)

    async def _audit_created(self, campaign: Campaign, actor_id: int | None) -> None:
        await audit.record(
            self._db,
            self._clock,
            actor_id=actor_id,
            action="broadcast.created",
            target=str(campaign.id),
            details={
                "audience": campaign.audience.as_json(),
                "recipients": await self.count(campaign.audience),
                "scheduled_at": campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
                "via": "telegram" if actor_id else "cli",
            },
        )


def parse_when(text: str, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """A moment a person typed, read in ``tz``: "2026-11-24 09:00", "11-24 09:00", or "09:00" (the next
    one to come); BroadcastError("bad_time") otherwise."""
    value = " ".join(text.strip().replace("：", ":").replace("/", "-").replace("T", " ").split())
    local_now = now.astimezone(tz)
    for fmt in ("%Y-%m-%d %H:%M", "%m-%d %H:%M", "%H:%M"):
        try:
            parsed = dt.datetime.strptime(value, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
        if fmt == "%H:%M":
            moment = local_now.replace(hour=parsed.hour, minute=parsed.minute, second=0, microsecond=0)
            return moment if moment > local_now else moment + dt.timedelta(days=1)
        if fmt == "%m-%d %H:%M":
            moment = parsed.replace(year=local_now.year)
            return moment if moment >= local_now else moment.replace(year=local_now.year + 1)
        return parsed
    raise BroadcastError("bad_time", text)


def recipient_key(campaign_id: int, user_id: int) -> str:
    """The outbox key of one recipient's copy: what (this campaign), to whom."""
    return f"broadcast:{campaign_id}:{user_id}"
