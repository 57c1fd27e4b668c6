"""Leave plans for people: runs the calculator in ``knowledge.leave`` and renders the plan in their language.

Every figure is shown with its document; unverified figures are marked, unknown ones are not guessed.
"""

from __future__ import annotations

import datetime as dt

from bot.i18n import EN, N_, Translate, in_script, normalize_locale, translator
from knowledge import leave
from knowledge.leave import LeaveInputError, LeaveKind, LeavePlan, LeaveQuestion, Source

REASONS = {
    "national_base": N_("national maternity leave (up to 15 days of it before the birth)"),
    "provincial_extra": N_("added by the province"),
    "child_order": N_("added for this child's birth order"),
    "difficult_birth": N_("added for a difficult birth"),
    "multiple_birth": N_("added for each additional baby"),
}
NOTES_EN = {
    "up-to-15-days-before-birth": N_("Up to 15 of the national 98 days may be taken before the birth."),
    "caesarean-not-automatically-difficult": N_(
        "A caesarean is not automatically a difficult birth: the hospital's certificate decides."
    ),
    "provincial-addition-unknown": N_(
        "No verified provincial addition to the national 98 days: ask the local health commission or call 12320."
    ),
    "paternity-unknown": N_("No verified paternity-leave figure for this region: ask locally or call 12320."),
    "parental-unknown": N_("No verified parental-leave figure for this region: ask locally or call 12320."),
    "verify-locally": N_(
        "Figures marked unverified were not checked against the official text: verify with the local health "
        "commission or human-resources bureau, or call 12320."
    ),
    "low-confidence": N_("Some figures are recalled with low confidence: please verify locally."),
    "weak-source": N_("Some figures come from a weak source: please verify locally."),
}
UNVERIFIED_MARK = "⚠️"
# Which kind of leave a note speaks about; notes not listed are about maternity leave.
NOTE_KINDS = {
    "paternity-unknown": LeaveKind.PATERNITY,
    "parental-unknown": LeaveKind.PARENTAL,
    "parental-range": LeaveKind.PARENTAL,
    "parental-working-days": LeaveKind.PARENTAL,
    "public-sector-leads-parental-leave": LeaveKind.PARENTAL,
}
GENERAL_NOTES = {"verify-locally", "low-confidence", "weak-source"}


class LeaveService:
    """Plans and explains leave; the policy table is loaded once."""

    def __init__(self, table: leave.LeavePolicyTable | None = None) -> None:
        self._table = table

    @property
    def table(self) -> leave.LeavePolicyTable:
        if self._table is None:
            self._table = leave.load_policy()
        return self._table

    def resolve(self, name: str) -> str:
        """The region's short name for any way of writing it; UnknownProvince otherwise."""
        return leave.resolve_province(name, self.table).name

    def provinces(self) -> list[str]:
        return [province.name for province in self.table]

    def plan(
        self,
        province: str,
        birth_date: dt.date,
        *,
        child_order: int = 1,
        babies: int = 1,
        difficult: bool = False,
        start: dt.date | None = None,
    ) -> LeavePlan:
        return leave.plan_leave(
            province,
            birth_date,
            child_order=child_order,
            babies=babies,
            difficult=difficult,
            start=start,
            table=self.table,
        )

    def parse_question(self, text: str) -> LeaveQuestion | None:
        return leave.parse_leave_question(text, self.table)

    def answer_question(self, question: LeaveQuestion, today: dt.date, locale: str) -> str:
        """A short answer to "how much X leave in province P", for a birth today."""
        plan = self.plan(
            question.province.name,
            question.birth_date or today,
            child_order=question.child_order or 1,
            babies=question.babies or 1,
            difficult=question.difficult,
        )
        kinds = question.kinds or (LeaveKind.MATERNITY,)
        text = render_plan(plan, locale, kinds=kinds, with_dates=question.birth_date is not None)
        _ = translator(locale)
        return text + "\n\n" + _("For your own dates, send /leave.")


def _source_text(source: Source | None, _: Translate) -> str:
    if source is None:
        return _("no verified source")
    parts = []
    if source.document:
        parts.append(f"《{source.document}》")
    if source.number:
        parts.append(source.number)
    if source.effective:
        parts.append(source.effective)
    text = " ".join(parts) if parts else _("no verified source")
    if str(source.confidence) != "FOUND":
        text += f" {UNVERIFIED_MARK}" + _("unverified")
    return text


def render_plan(
    plan: LeavePlan,
    locale: str,
    *,
    kinds: tuple[LeaveKind, ...] = (LeaveKind.MATERNITY, LeaveKind.PATERNITY, LeaveKind.PARENTAL),
    with_dates: bool = True,
) -> str:
    """The plan as a short message in the reader's language and script."""
    locale = normalize_locale(locale)
    _ = translator(locale)
    english = locale == EN
    lines = [_("Leave in {province}", province=plan.province.name)]
    m = plan.maternity
    if LeaveKind.MATERNITY in kinds:
        lines.append("")
        if m.total_days_max:
            lines.append(
                _(
                    "Maternity leave: {low} to {high} days, the employer decides within that range.",
                    low=m.total_days,
                    high=m.total_days_max,
                )
            )
        else:
            lines.append(_("Maternity leave: {days} days in total.", days=m.total_days))
        if with_dates:
            lines.append(
                _("From {start} to {end} (inclusive).", start=m.start.isoformat(), end=m.end.isoformat())
            )
        for part in m.breakdown:
            reason = _(REASONS[part.reason]) if english and part.reason in REASONS else part.reason_text
            days = f"{part.days}-{part.days_max}" if part.days_max else str(part.days)
            lines.append(
                _(
                    "• {days} days: {reason} ({source})",
                    days=days,
                    reason=reason,
                    source=_source_text(part.source, _),
                )
            )
    if LeaveKind.PATERNITY in kinds:
        lines.append("")
        p = plan.paternity
        if p.days is None:
            lines.append(_("Paternity (nursing) leave: no verified figure for this region."))
        else:
            lines.append(
                _(
                    "Paternity (nursing) leave: {days} days ({source}).",
                    days=p.days,
                    source=_source_text(p.source, _),
                )
            )
    if LeaveKind.PARENTAL in kinds:
        lines.append("")
        q = plan.parental
        if q.days_per_year is None:
            lines.append(_("Parental leave: no verified figure for this region."))
        else:
            days = f"{q.days_per_year}-{q.days_per_year_max}" if q.days_per_year_max else str(q.days_per_year)
            lines.append(
                _(
                    "Parental leave: {days} days a year for each parent, until the child turns {age} ({source}).",
                    days=days,
                    age=q.until_age if q.until_age is not None else "?",
                    source=_source_text(q.source, _),
                )
            )
    notes = []
    for note in plan.notes:
        if note.code not in GENERAL_NOTES and NOTE_KINDS.get(note.code, LeaveKind.MATERNITY) not in kinds:
            continue
        if english:
            notes.append(_(NOTES_EN[note.code]) if note.code in NOTES_EN else note.text)
        else:
            notes.append(note.text)
    if notes:
        lines.append("")
        lines.append(_("Notes:"))
        lines += [f"• {n}" for n in notes]
    text = "\n".join(lines)
    return in_script(text, locale)


def input_error_text(error: LeaveInputError, locale: str) -> str:
    """Say what to enter instead, for each kind of bad input."""
    _ = translator(locale)
    details = error.details()
    if isinstance(error, leave.UnknownProvince):
        hint = (
            _(" Did you mean: {names}?", names="、".join(details.get("suggestions") or []))
            if details.get("suggestions")
            else ""
        )
        return (
            _(
                "I don't know the province “{name}”. Enter a provincial region such as 福建, 浙江 or 广东.",
                name=details.get("name", ""),
            )
            + hint
        )
    if isinstance(error, leave.InvalidDate):
        return _(
            "“{text}” is not a date I can read. Enter it like 2026-03-05 or 2026年3月5日.",
            text=details.get("text", ""),
        )
    if isinstance(error, leave.BirthDateOutOfRange):
        return _(
            "Enter a birth or due date between {earliest} and {latest}.",
            earliest=str(details.get("earliest")),
            latest=str(details.get("latest")),
        )
    if isinstance(error, leave.InvalidStartDate):
        return _(
            "Leave can start at most 15 days before the birth and no later than the birth: enter a start between {earliest} and {latest}.",
            earliest=str(details.get("earliest")),
            latest=str(details.get("latest")),
        )
    if isinstance(error, leave.InvalidBabies):
        return _("The number of babies must be a whole number from 1 to 8.")
    if isinstance(error, leave.InvalidChildOrder):
        return _("The child's birth order must be a whole number from 1 to 10 (1 for a first child).")
    return _("That value cannot be used; please check it and try again.")
