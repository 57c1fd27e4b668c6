"""Compliance rules as data: reads and checks ``schedules/data/compliance_rules.yaml``, and works out each
rule's cycles, due dates and reminder days for a nursery. Pure date arithmetic, no storage.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.directory.categories import LegalForm

RULES_FILE = Path(__file__).resolve().parent / "data" / "compliance_rules.yaml"
_RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")

Filing = Literal["any", "filed", "unfiled"]
Anchor = Literal["registered_on", "filed_on"]


class RuleError(ValueError):
    """The rules file is malformed; the message names the rule and the field."""


@dataclasses.dataclass(frozen=True)
class Nursery:
    """What the rules need to know about a nursery (托育机构)."""

    id: int
    name: str
    credit_code: str
    district: str | None
    legal_form: str | None
    registered_on: dt.date | None
    filed_on: dt.date | None
    vacancies_updated_at: dt.datetime | None = None
    listed_on: dt.date | None = None  # when the nursery entered the register (its row was created)


@dataclasses.dataclass(frozen=True)
class Cycle:
    """One round of a duty: it opens, falls due, and is relevant (live) from ``live_from`` until the next
    round takes over (``live_until``, exclusive; None for a duty that happens once)."""

    key: str
    opens_on: dt.date
    due_on: dt.date
    live_from: dt.date
    live_until: dt.date | None

    def contains(self, day: dt.date) -> bool:
        return self.live_from <= day and (self.live_until is None or day < self.live_until)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a rule falls due: once after a date of the nursery, in a yearly window, or every N months."""

    kind: Literal["after", "yearly", "periodic"]
    anchor: Anchor | None = None
    days: int = 0
    opens: tuple[int, int] | None = None  # (month, day)
    due: tuple[int, int] | None = None
    months: int = 0


@dataclasses.dataclass(frozen=True)
class Reminding:
    days_before: tuple[int, ...] = ()
    on_open: bool = False
    every_days: int | None = None
    every_from: Literal["opens", "due"] = "opens"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One duty from the rules file."""

    id: str
    title: str
    message: str
    legal_forms: frozenset[str] | None  # None: any legal form
    filing: Filing
    schedule: Schedule
    remind: Reminding
    can_mark_done: bool
    auto_done: str | None
    escalate_after_days: int | None
    source: str
    confidence: str
    note: str | None = None
    # Calendar cycles and their reminder days are the same for every nursery: worked out once per day.
    _memo: dict[tuple[str, dt.date], Any] = dataclasses.field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    def applies_to(self, nursery: Nursery) -> bool:
        if self.legal_forms is not None and nursery.legal_form not in self.legal_forms:
            return False
        if self.filing == "filed" and nursery.filed_on is None:
            return False
        return not (self.filing == "unfiled" and nursery.filed_on is not None)

    # -- cycles -----------------------------------------------------------------------------------
    def cycle_at(self, nursery: Nursery, day: dt.date) -> Cycle | None:
        """The cycle live on ``day`` (None before the first one, when the anchor date is unknown, or when
        the nursery was registered after the cycle opened: a new nursery has no last year to report on)."""
        if self.schedule.kind == "after":
            anchor = getattr(nursery, self.schedule.anchor or "registered_on")
            return self._after_cycle(anchor) if anchor is not None and anchor <= day else None
        cycle = self._calendar_cycle(day)
        if cycle is None or (nursery.registered_on and nursery.registered_on > cycle.opens_on):
            return None
        return cycle

    def _calendar_cycle(self, day: dt.date) -> Cycle | None:
        key = ("cycle", day)
        if key not in self._memo:
            if len(self._memo) > 4096:
                self._memo.clear()
            probe = Nursery(0, "", "", None, None, None, None)
            self._memo[key] = next((c for c in self._cycles_near(probe, day) if c.contains(day)), None)
        cycle: Cycle | None = self._memo[key]
        return cycle

    def cycles_between(self, nursery: Nursery, start: dt.date, end: dt.date) -> list[Cycle]:
        """Cycles live on some day of [start, end]."""
        found: list[Cycle] = []
        day = start
        while day <= end:
            cycle = self.cycle_at(nursery, day)
            if cycle is None:
                nxt = self._next_live_from(nursery, day)
                if nxt is None or nxt > end:
                    break
                day = nxt
                continue
            found.append(cycle)
            if cycle.live_until is None:
                break
            day = cycle.live_until
        return found

    def _cycles_near(self, nursery: Nursery, day: dt.date) -> Iterator[Cycle]:
        s = self.schedule
        if s.kind == "after":
            anchor = getattr(nursery, s.anchor or "registered_on")
            if anchor is not None:
                yield self._after_cycle(anchor)
        elif s.kind == "yearly":
            for year in (day.year - 1, day.year, day.year + 1):
                yield self._yearly_cycle(year)
        else:
            opens = _period_start(day, s.months)
            yield self._periodic_cycle(opens)

    def _next_live_from(self, nursery: Nursery, day: dt.date) -> dt.date | None:
        s = self.schedule
        if s.kind == "after":
            anchor = getattr(nursery, s.anchor or "registered_on")
            return self._after_cycle(anchor).live_from if anchor is not None and anchor > day else None
        if s.kind == "yearly":
            return min(c.live_from for c in self._cycles_near(nursery, day) if c.live_from > day)
        return _add_months(_period_start(day, s.months), s.months)

    def _after_cycle(self, anchor: dt.date) -> Cycle:
        due = anchor + dt.timedelta(days=self.schedule.days)
        return Cycle(anchor.isoformat(), anchor, due, anchor, None)

    def _yearly_cycle(self, year: int) -> Cycle:
        opens, due = self._yearly_dates(year)
        _next_opens, next_due = self._yearly_dates(year + 1)
        return Cycle(
            str(year), opens, due, self._first_slot(opens, due), self._first_slot(_next_opens, next_due)
        )

    def _yearly_dates(self, year: int) -> tuple[dt.date, dt.date]:
        assert self.schedule.opens is not None and self.schedule.due is not None
        opens = dt.date(year, *self.schedule.opens)
        due = dt.date(year, *self.schedule.due)
        if due < opens:  # a window that runs into the next year
            due = dt.date(year + 1, *self.schedule.due)
        return opens, due

    def _first_slot(self, opens: dt.date, due: dt.date) -> dt.date:
        earliest = max(self.remind.days_before, default=0)
        return min(opens, due - dt.timedelta(days=earliest))

    def _periodic_cycle(self, opens: dt.date) -> Cycle:
        months = self.schedule.months
        nxt = _add_months(opens, months)
        key = str(opens.year) if months == 12 else f"{opens.year}-{opens.month:02d}"
        return Cycle(key, opens, nxt - dt.timedelta(days=1), opens, nxt)

    # -- reminder days ----------------------------------------------------------------------------
    def slots(self, cycle: Cycle, start: dt.date, end: dt.date) -> list[dt.date]:
        """Reminder days of ``cycle`` in [start, end], inside the cycle's live range."""
        lo = max(start, cycle.live_from)
        hi = end if cycle.live_until is None else min(end, cycle.live_until - dt.timedelta(days=1))
        if lo > hi:
            return []
        days: set[dt.date] = {cycle.due_on - dt.timedelta(days=d) for d in self.remind.days_before}
        if self.remind.on_open:
            days.add(cycle.opens_on)
        if self.remind.every_days:
            origin = cycle.opens_on if self.remind.every_from == "opens" else cycle.due_on
            step = self.remind.every_days
            k = max(0, -((origin - lo).days // step))
            day = origin + dt.timedelta(days=k * step)
            while day <= hi:
                days.add(day)
                day += dt.timedelta(days=step)
        return sorted(d for d in days if lo <= d <= hi)

    def latest_slot(self, cycle: Cycle, day: dt.date) -> dt.date | None:
        """The last reminder day of ``cycle`` on or before ``day``."""
        if self.schedule.kind == "after":
            return self._latest_slot(cycle, day)
        key = (f"slot:{cycle.key}", day)
        if key not in self._memo:
            self._memo[key] = self._latest_slot(cycle, day)
        slot: dt.date | None = self._memo[key]
        return slot

    def _latest_slot(self, cycle: Cycle, day: dt.date) -> dt.date | None:
        if day < cycle.live_from:
            return None
        candidates: list[dt.date] = [
            d for d in (cycle.due_on - dt.timedelta(days=n) for n in self.remind.days_before) if d <= day
        ]
        if self.remind.on_open and cycle.opens_on <= day:
            candidates.append(cycle.opens_on)
        if self.remind.every_days:
            origin = cycle.opens_on if self.remind.every_from == "opens" else cycle.due_on
            if origin <= day:
                step = self.remind.every_days
                candidates.append(origin + dt.timedelta(days=((day - origin).days // step) * step))
        found = [d for d in candidates if cycle.contains(d)]
        return max(found) if found else None


@dataclasses.dataclass(frozen=True)
class RuleBook:
    """The rules file: the rules plus when and how reminders go out."""

    rules: tuple[Rule, ...]
    send_at: dt.time
    window_from: dt.time
    window_to: dt.time
    snooze_days: int
    digest_weekday: int

    def rule(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    @functools.cached_property
    def _by_id(self) -> dict[str, Rule]:
        # Every reminder line rendered looks its rule up here.
        return {r.id: r for r in self.rules}

    def effective_day(self, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.date:
        """The last day whose reminders may go out at ``now``: today once ``send_at`` has passed."""
        local = now.astimezone(tz)
        return local.date() if local.time() >= self.send_at else local.date() - dt.timedelta(days=1)

    def send_time(self, day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
        return dt.datetime.combine(day, self.send_at, tzinfo=tz)

    def in_window(self, moment: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
        """``moment``, or the next opening of the send window when it falls in the quiet hours."""
        local = moment.astimezone(tz)
        if self.window_from <= local.time() < self.window_to:
            return moment
        day = local.date() if local.time() < self.window_from else local.date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, self.window_from, tzinfo=tz).astimezone(dt.UTC)


# -- loading ----------------------------------------------------------------------------------------
@functools.cache
def default_rules() -> RuleBook:
    return load_rules(RULES_FILE)


def load_rules(path: Path) -> RuleBook:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError(f"{path.name}: not valid YAML: {exc}") from None
    return parse_rules(data, source=path.name)


def parse_rules(data: Any, *, source: str = "rules") -> RuleBook:
    if not isinstance(data, Mapping):
        raise RuleError(f"{source}: expected a mapping at the top")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(f"{source}: `rules` must be a non-empty list")
    rules = tuple(_parse_rule(raw, f"{source}: rule {i + 1}") for i, raw in enumerate(raw_rules))
    ids = [r.id for r in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RuleError(f"{source}: duplicate rule ids: {', '.join(duplicates)}")
    window = data.get("send_window", ["08:00", "21:00"])
    if not isinstance(window, list) or len(window) != 2:
        raise RuleError(f"{source}: send_window must be [from, to]")
    book = RuleBook(
        rules=rules,
        send_at=_clock(data.get("send_at", "09:00"), f"{source}: send_at"),
        window_from=_clock(window[0], f"{source}: send_window"),
        window_to=_clock(window[1], f"{source}: send_window"),
        snooze_days=_int(data.get("snooze_days", 1), f"{source}: snooze_days", minimum=1),
        digest_weekday=_int(data.get("digest_weekday", 1), f"{source}: digest_weekday", minimum=1),
    )
    if book.digest_weekday > 7:
        raise RuleError(f"{source}: digest_weekday must be 1 (Monday) to 7 (Sunday)")
    if not book.window_from <= book.send_at < book.window_to:
        raise RuleError(f"{source}: send_at must fall inside send_window")
    return book


def _parse_rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: expected a mapping")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise RuleError(f"{where}: id must be 1-24 lower-case letters, digits or _ (got {rule_id!r})")
    where = f"{where.split(': rule')[0]}: rule {rule_id}"
    for name in ("title", "message", "source", "confidence"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise RuleError(f"{where}: `{name}` is required")
    if raw["confidence"] not in ("FOUND", "MEMORY"):
        raise RuleError(f"{where}: confidence must be FOUND or MEMORY")
    applies = raw.get("applies_to") or {}
    forms = applies.get("legal_forms", "any")
    legal_forms: frozenset[str] | None
    if forms == "any":
        legal_forms = None
    elif isinstance(forms, list) and forms:
        known = {f.value for f in LegalForm}
        unknown = [f for f in forms if f not in known]
        if unknown:
            raise RuleError(f"{where}: unknown legal forms {unknown}; expected some of {sorted(known)}")
        legal_forms = frozenset(forms)
    else:
        raise RuleError(f"{where}: applies_to.legal_forms must be `any` or a list")
    filing = applies.get("filing", "any")
    if filing not in ("any", "filed", "unfiled"):
        raise RuleError(f"{where}: applies_to.filing must be any, filed or unfiled")
    remind = _parse_remind(raw.get("remind"), where)
    escalate = raw.get("escalate_after_days")
    if escalate is not None:
        escalate = _int(escalate, f"{where}: escalate_after_days", minimum=0)
    auto_done = raw.get("auto_done")
    if auto_done not in (None, "vacancies_updated"):
        raise RuleError(f"{where}: auto_done must be vacancies_updated or absent")
    can_mark_done = raw.get("can_mark_done", True)
    if not isinstance(can_mark_done, bool):
        raise RuleError(f"{where}: can_mark_done must be true or false")
    return Rule(
        id=rule_id,
        title=raw["title"].strip(),
        message=raw["message"].strip(),
        legal_forms=legal_forms,
        filing=filing,
        schedule=_parse_schedule(raw.get("due"), where),
        remind=remind,
        can_mark_done=can_mark_done,
        auto_done=auto_done,
        escalate_after_days=escalate,
        source=raw["source"].strip(),
        confidence=raw["confidence"],
        note=raw.get("note"),
    )


def _parse_schedule(raw: Any, where: str) -> Schedule:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise RuleError(f"{where}: `due` needs exactly one of after, yearly, periodic")
    ((kind, spec),) = raw.items()
    if not isinstance(spec, Mapping):
        raise RuleError(f"{where}: due.{kind} must be a mapping")
    if kind == "after":
        anchor = spec.get("anchor")
        if anchor not in ("registered_on", "filed_on"):
            raise RuleError(f"{where}: due.after.anchor must be registered_on or filed_on")
        return Schedule(
            "after", anchor=anchor, days=_int(spec.get("days", 0), f"{where}: due.after.days", minimum=0)
        )
    if kind == "yearly":
        opens = _month_day(spec.get("opens"), f"{where}: due.yearly.opens")
        due = _month_day(spec.get("due"), f"{where}: due.yearly.due")
        return Schedule("yearly", opens=opens, due=due)
    if kind == "periodic":
        months = _int(spec.get("months"), f"{where}: due.periodic.months", minimum=1)
        if 12 % months:
            raise RuleError(f"{where}: due.periodic.months must divide 12 (1, 2, 3, 4, 6 or 12)")
        return Schedule("periodic", months=months)
    raise RuleError(f"{where}: unknown due kind {kind!r}; expected after, yearly or periodic")


def _parse_remind(raw: Any, where: str) -> Reminding:
    if not isinstance(raw, Mapping) or not raw:
        raise RuleError(f"{where}: `remind` needs days_before, on_open or every_days")
    before = raw.get("days_before", [])
    if not isinstance(before, list) or any(not isinstance(d, int) or d < 0 for d in before):
        raise RuleError(f"{where}: remind.days_before must be a list of whole days, 0 or more")
    every = raw.get("every_days")
    if every is not None:
        every = _int(every, f"{where}: remind.every_days", minimum=1)
    origin = raw.get("from", "opens")
    if origin not in ("opens", "due"):
        raise RuleError(f"{where}: remind.from must be opens or due")
    on_open = bool(raw.get("on_open", False))
    if not before and not on_open and every is None:
        raise RuleError(f"{where}: `remind` needs days_before, on_open or every_days")
    return Reminding(tuple(sorted(set(before), reverse=True)), on_open, every, origin)


def _int(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RuleError(f"{where}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def _month_day(value: Any, where: str) -> tuple[int, int]:
    match = _MONTH_DAY.match(str(value or ""))
    if not match:
        raise RuleError(f"{where}: expected MM-DD, got {value!r}")
    month, day = int(match[1]), int(match[2])
    if (month, day) == (2, 29):
        raise RuleError(f"{where}: 02-29 does not exist every year; use 02-28 or 03-01")
    try:
        dt.date(2001, month, day)
    except ValueError:
        raise RuleError(f"{where}: {value!r} is not a date") from None
    return month, day


def _clock(value: Any, where: str) -> dt.time:
    match = _CLOCK.match(str(value or ""))
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise RuleError(f"{where}: expected HH:MM, got {value!r}")
    return dt.time(int(match[1]), int(match[2]))


def _period_start(day: dt.date, months: int) -> dt.date:
    return dt.date(day.year, ((day.month - 1) // months) * months + 1, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
