"""The nursery directory as the channels use it: nearby places, filing look-ups, claims and vacancies,
rendered for one reader. Wraps the repository with the database, the clock, the audit log and i18n.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from sqlalchemy import func, select
from sqlmodel import col

from bot import audit
from bot.clock import Clock
from bot.directory import repository
from bot.directory.categories import AGE_CLASS_LABELS_ZH, AgeClass, LegalForm, ServiceType
from bot.directory.models import Institution
from bot.directory.names import strip_question
from bot.directory.records import FilingStatus, NearbyResult
from bot.i18n import EN, N_, Translate, in_script, normalize_locale, translator
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import AuditEvent
from knowledge.text import to_simplified

PAGE_SIZE = 5
STALE_AFTER = dt.timedelta(days=30)
# Claim codes that did not work, per person: this many within the window and /claim waits.
CLAIM_ATTEMPTS = 5
CLAIM_WINDOW = dt.timedelta(hours=1)
CLAIM_FAILED = "institution.claim_failed"
_FILING_QUESTION = re.compile(r"(备案|備案|filed|filing)")
_FILING_ASK = re.compile(r"(了吗|了没|没有|吗|嗎|沒有|\?|？|有没有|是否|查询|查一下|查查)")
# Words of a how-to question about filing, which the knowledge base answers, not the register.
_HOW_TO = re.compile(
    r"(怎么|怎样|如何|需要|要不要|材料|多久|几天|流程|哪里|在哪|什么|条件|为什么|how|what|when|where)", re.I
)
_GENERIC_NAMES = {
    "托育机构",
    "托育园",
    "托儿所",
    "机构",
    "幼儿园",
    "托育",
    "我们",
    "这家",
    "你们",
    "它",
    "家庭托育点",
    "托育中心",
}

CLASS_LABELS = {
    AgeClass.INFANT: N_("infant class (6-12 months)"),
    AgeClass.TODDLER: N_("toddler class (12-24 months)"),
    AgeClass.OLDER: N_("older class (24-36 months)"),
    AgeClass.MIXED: N_("mixed class (18 months and older)"),
}


@dataclasses.dataclass(frozen=True)
class NearbyPage:
    """One page of nearby results and what the reader needs to ask for the next."""

    results: list[NearbyResult]
    offset: int
    has_more: bool


def is_filing_question(text: str) -> bool:
    """ "小树苗托育园备案了吗": a name plus a question about filing (备案)."""
    simplified = to_simplified(text)
    if len(simplified) > 60 or not _FILING_QUESTION.search(simplified) or not _FILING_ASK.search(simplified):
        return False
    if _HOW_TO.search(simplified):
        return False
    name = strip_question(simplified)
    return len(name) >= 2 and name not in _GENERIC_NAMES


class DirectoryService:
    """Directory operations for people, with their rules (who may update what) and their wording."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    # -- families ------------------------------------------------------------------------------
    async def nearby(self, lat: float, lon: float, *, age_months: int | None, offset: int = 0) -> NearbyPage:
        results = await repository.nearby(
            self._db, lat, lon, age_months=age_months, limit=PAGE_SIZE + 1, offset=offset
        )
        return NearbyPage(results[:PAGE_SIZE], offset, len(results) > PAGE_SIZE)

    async def district_center(self, district: str) -> tuple[float, float] | None:
        """The middle of a district's nurseries: where a reader who won't share a location is placed."""
        stmt = select(func.avg(col(Institution.lat)), func.avg(col(Institution.lon))).where(
            col(Institution.district) == district
        )
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None or row[0] is None:
            return None
        return float(row[0]), float(row[1])

    async def get(self, institution_id: int) -> Institution | None:
        return await repository.get(self._db, institution_id)

    def render_nearby(
        self, page: NearbyPage, locale: str, *, age_months: int | None, district: str | None = None
    ) -> str:
        locale = normalize_locale(locale)
        _ = translator(locale)
        now = self._clock.now()
        lines = []
        if district is not None:
            lines.append(_("Around the middle of {district}:", district=district))
        if age_months is not None:
            lines.append(
                _("Nurseries near you with a class for a child of {months} months:", months=age_months)
            )
        else:
            lines.append(_("Nurseries near you:"))
        for index, result in enumerate(page.results, start=page.offset + 1):
            lines.append("")
            lines.append(self._result_lines(index, result, _, now, locale))
        if any(r.is_sample for r in page.results):
            lines += [
                "",
                _("⚠️ Sample data: these nurseries are made up for trying the bot, not real places."),
            ]
        text = "\n".join(lines)
        return in_script(text, locale)

    def _result_lines(self, index: int, r: NearbyResult, _: Translate, now: dt.datetime, locale: str) -> str:
        distance = f"{r.distance_m / 1000:.1f} km" if r.distance_m >= 1000 else f"{round(r.distance_m)} m"
        badge = " " + _("[Inclusive (普惠)]") if r.inclusive else ""
        where = f" · {r.district}" if r.district else ""
        lines = [f"{index}. {r.name}{badge} · {distance}{where}"]
        places = []
        for cls in r.classes:
            label = class_label(cls.age_class, locale)
            free = "?" if cls.free is None else str(cls.free)
            places.append(
                _("{label}: {free} free of {capacity}", label=label, free=free, capacity=cls.capacity)
            )
        if places:
            lines.append("   " + "; ".join(places))
        if r.vacancies_updated_at is not None:
            days = max(0, (now - r.vacancies_updated_at).days)
            # Separate messages for today and yesterday rather than plural forms, as in
            # schedules/compliance.py: Chinese has none and the catalogs keep to plain msgids.
            if days == 0:
                updated = _("updated today")
            elif days == 1:
                updated = _("updated yesterday")
            else:
                updated = _("updated {days} days ago", days=days)
            if now - r.vacancies_updated_at > STALE_AFTER:
                updated += " " + _("(may be out of date)")
            lines.append("   " + updated)
        else:
            lines.append("   " + _("free places not reported"))
        if r.fee_min is not None or r.fee_max is not None:
            low, high = r.fee_min or r.fee_max, r.fee_max or r.fee_min
            fee = f"{low}" if low == high else f"{low}-{high}"
            lines.append("   " + _("fee: {fee} yuan a month", fee=fee))
        lines.append(
            "   " + (_("filed (备案) with the health commission") if r.filed else _("not filed (备案) yet"))
        )
        if r.phone:
            lines.append("   ☎ " + r.phone)
        return "\n".join(lines)

    # -- filing look-up ------------------------------------------------------------------------
    async def filing_status(self, text: str) -> list[FilingStatus]:
        return await repository.find_by_name(self._db, text, limit=3)

    def render_filing(self, found: list[FilingStatus], query: str, locale: str) -> str:
        locale = normalize_locale(locale)
        _ = translator(locale)
        if not found:
            text = _(
                "I found no nursery called “{name}” in the register. Check the name, or ask your district "
                "health commission; nurseries must file (备案) and the filing is public.",
                name=(strip_question(query) or query.strip())[:40],
            )
        else:
            lines = []
            for status in found:
                if status.filed_on is not None:
                    lines.append(
                        _(
                            "{name}: filed (备案) on {date}.",
                            name=status.name,
                            date=status.filed_on.isoformat(),
                        )
                    )
                else:
                    lines.append(_("{name}: no filing (备案) is recorded in the register.", name=status.name))
                if status.district or status.address:
                    lines.append("   " + " ".join(p for p in (status.district, status.address) if p))
                if status.is_sample:
                    lines.append("   " + _("(sample data)"))
            lines.append("")
            lines.append(_("Source: the commission's nursery register in this bot."))
            text = "\n".join(lines)
        return in_script(text, locale)

    # -- operators -----------------------------------------------------------------------------
    async def claim(self, code: str, user_id: int) -> Institution:
        """Link the operator to their nursery; claiming is their consent to keep that link.

        Codes that do not work are counted per person: after CLAIM_ATTEMPTS within CLAIM_WINDOW, no
        further code is tried until the oldest of them is a window old (ClaimError "too_many").
        """
        now = self._clock.now()
        retry_at = await self._claims_held_until(user_id, now)
        if retry_at is not None:
            raise repository.ClaimError(
                "too_many", "too many claim codes that did not work", retry_at=retry_at
            )
        try:
            institution = await repository.claim(self._db, code, user_id, now=now)
        except repository.ClaimError as exc:
            if exc.reason != "already_linked":
                await audit.record(
                    self._db,
                    self._clock,
                    actor_id=user_id,
                    action=CLAIM_FAILED,
                    details={"reason": exc.reason},
                )
            raise
        await audit.record(
            self._db,
            self._clock,
            actor_id=user_id,
            action="institution.claimed",
            target=institution.credit_code,
        )
        return institution

    async def _claims_held_until(self, user_id: int, now: dt.datetime) -> dt.datetime | None:
        """When the person may try a claim code again, or None when they may now."""
        stmt = (
            select(col(AuditEvent.at))
            .where(
                col(AuditEvent.actor_id) == user_id,
                col(AuditEvent.action) == CLAIM_FAILED,
                col(AuditEvent.at) > now - CLAIM_WINDOW,
            )
            .order_by(col(AuditEvent.at).desc())
            .limit(CLAIM_ATTEMPTS)
        )
        async with self._db.engine.connect() as conn:
            failures = list((await conn.execute(stmt)).scalars())
        if len(failures) < CLAIM_ATTEMPTS:
            return None
        return failures[-1] + CLAIM_WINDOW

    async def operated_by(self, user_id: int) -> list[Institution]:
        return await repository.institutions_for_operator(self._db, user_id)

    async def update_free_places(
        self, institution_id: int, age_class: AgeClass, free: int, user_id: int, *, as_staff: bool = False
    ) -> Institution:
        """Set one class's free places, as the nursery's operator or (``as_staff``, checked by the
        caller) as commission staff correcting it; audited either way."""
        institution = await repository.update_free_places(
            self._db, institution_id, {age_class: free}, user_id, now=self._clock.now(), as_staff=as_staff
        )
        details: dict[str, object] = {"class": age_class.value, "free": free}
        if as_staff:
            details["staff"] = True
        await audit.record(
            self._db,
            self._clock,
            actor_id=user_id,
            action="institution.vacancy",
            target=institution.credit_code,
            details=details,
        )
        return institution

    async def find_for_staff(self, query: str) -> Institution | None:
        """The nursery a staff member names by its credit code (统一社会信用代码)."""
        return await repository.get_by_credit_code(self._db, query.strip())


def class_label(age_class: AgeClass, locale: str) -> str:
    """An age class as the reader calls it: the English catalog label, or the register's Chinese label
    in the reader's script."""
    if normalize_locale(locale) == EN:
        return translator(locale)(CLASS_LABELS[age_class])
    return in_script(AGE_CLASS_LABELS_ZH[age_class], locale)


__all__ = ["DirectoryService", "LegalForm", "ServiceType", "class_label", "is_filing_question"]
