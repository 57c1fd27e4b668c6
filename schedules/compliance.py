"""Compliance reminders for nursery operators (备案, annual reports, inspections, drills): the planner that
turns the rules and the register into outbox rows exactly once, and the core behind /tasks and /overdue.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from bot import audit
from bot.batch import collector_paused
from bot.clock import Clock
from bot.i18n import N_, Translate
from bot.settings import Settings
from bot.storage.db import Database
from schedules.obligations import (
    EMPTY_LEDGER,
    CycleFilter,
    LedgerUpdate,
    ObligationKey,
    ObligationStore,
    StateRow,
    nursery_from,
)
from schedules.outbox import PRIORITY_DIGEST, PRIORITY_REMINDER, NewMessage, Outbox
from schedules.rules import Cycle, Nursery, Rule, RuleBook, default_rules
from schedules.templates import RenderContext, Rendered, template

REMINDER_TEMPLATE = "compliance.reminders"
DIGEST_TEMPLATE = "compliance.digest"
DONE_PREFIX = "tk:d"
LATER_PREFIX = "tk:l"
# How far ahead /tasks looks, and how far back a "Done" press on an old reminder may reach.
TASKS_HORIZON_DAYS = 45
DONE_LOOKBACK_DAYS = 400

# The rules file's msgids, marked here so that scripts/messages.py extracts them (it reads Python only);
# tests/test_compliance_rules.py fails when the file gains a msgid that is not listed.
RULE_MSGIDS = (
    N_("Filing (备案) with the health commission"),
    N_(
        "{name} has not filed (备案) with the district health commission yet. File online in the national "
        "nursery filing system; once the register shows the filing, these reminders stop."
    ),
    N_("Enterprise annual report"),
    N_(
        "{name}: submit the annual report through the national enterprise credit information system by {due}. "
        "A late report puts the business on the abnormal-operations list."
    ),
    N_("Annual inspection: report to the supervising unit"),
    N_("{name}: send the annual inspection report (年检) to your supervising unit (业务主管单位) by {due}."),
    N_("Annual inspection: submit to the registration authority"),
    N_("{name}: submit the annual inspection (年检) to the registration authority (民政) by {due}."),
    N_("Year-end work report to the health commission"),
    N_(
        "{name}: send this year's work report (and next year's plan) to the district health commission by {due}."
    ),
    N_("Keep your free places current"),
    N_(
        "{name}: check that your free places (空位) are current, so families searching nearby see the truth. "
        "Update them with /vacancy."
    ),
    N_("CCTV recordings kept 90 days"),
    N_(
        "{name}: check that the CCTV system still runs around the clock, covers every area children use, and "
        "keeps recordings for at least 90 days."
    ),
    N_("Emergency drill"),
    N_(
        "{name}: hold an emergency drill (应急演练, fire and evacuation) with staff and children by {due}, and "
        "keep a record."
    ),
)


# A nursery with no dates: what a calendar rule's cycles look like before the nursery's own dates count.
_PROBE = Nursery(0, "", "", None, None, None, None)


class ComplianceError(Exception):
    """A request about an obligation that cannot be honoured; ``code`` says why (for the handler)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclasses.dataclass(frozen=True)
class Obligation:
    """One duty of one nursery in one cycle, as it stands on ``today`` (a local date)."""

    nursery: Nursery
    rule: Rule
    cycle: Cycle
    today: dt.date
    done_at: dt.datetime | None = None
    snoozed_until: dt.datetime | None = None

    @property
    def key(self) -> ObligationKey:
        return (self.nursery.id, self.rule.id, self.cycle.key)

    @property
    def done(self) -> bool:
        return self.done_at is not None

    @property
    def days_left(self) -> int:
        return (self.cycle.due_on - self.today).days

    @property
    def overdue(self) -> bool:
        return not self.done and self.days_left < 0

    @property
    def escalated(self) -> bool:
        """Overdue long enough for the commission to hear of it."""
        after = self.rule.escalate_after_days
        return self.overdue and after is not None and -self.days_left > after


@dataclasses.dataclass(frozen=True)
class PlannedReminder:
    """What ``carebot reminders plan`` shows: who gets what, when."""

    send_at: dt.datetime
    recipient_id: int | None  # None: the nursery has no operator to remind
    institution_id: int
    credit_code: str
    institution: str
    rule_id: str
    cycle: str
    due_on: dt.date
    status: str  # "due now" (not sent yet), "sent", "upcoming"

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["send_at"] = self.send_at.isoformat()
        data["due_on"] = self.due_on.isoformat()
        return data


@dataclasses.dataclass
class PlanReport:
    """What one planning run did."""

    nurseries: int = 0
    reminders: int = 0  # obligation reminders newly planned (one per operator and obligation)
    messages: int = 0  # outbox rows they were coalesced into
    digests: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DoneResult:
    obligation: Obligation
    already: bool


class Compliance:
    """The planner and the operator/commission views of the rules."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        tz: zoneinfo.ZoneInfo | str = "Asia/Shanghai",
        admin_ids: Iterable[int] = (),
        rules: RuleBook | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.tz = tz if isinstance(tz, zoneinfo.ZoneInfo) else zoneinfo.ZoneInfo(tz)
        self.admin_ids = frozenset(admin_ids)
        self.book = rules or default_rules()
        self.store = ObligationStore(db, clock, self.tz)
        self.outbox = Outbox(db, clock)

    @classmethod
    def from_settings(cls, db: Database, clock: Clock, settings: Settings) -> Compliance:
        return cls(db, clock, tz=settings.tz, admin_ids=settings.admin_ids)

    def today(self, now: dt.datetime | None = None) -> dt.date:
        return (now or self.clock.now()).astimezone(self.tz).date()

    # -- planning ---------------------------------------------------------------------------------
    async def plan(self) -> PlanReport:
        """Enqueue every reminder due by now that has not been planned yet, coalesced per operator, and
        the commission's weekly digest. Running it again, or after an outage, adds nothing twice: each
        obligation's newest reminder day is sent once, the missed older ones are not."""
        with collector_paused():
            return await self._plan()

    async def _plan(self) -> PlanReport:
        now = self.clock.now()
        day = self.book.effective_day(now, self.tz)
        report = PlanReport()
        digest_keys = await self._digest_keys(now)
        # The digest looks at every nursery, the reminders at those with an operator (which are the ones
        # with operators below): on a digest day one read of the register serves both.
        nurseries = await self.store.nurseries(operated_only=not digest_keys)
        report.nurseries = sum(1 for _nursery, operators in nurseries if operators)
        states = await self.store.states(self._cycle_filter(day))
        ledgers = await self.store.ledgers()

        updates: list[LedgerUpdate] = []
        prepared = [(rule, self._day_plan(rule, day)) for rule in self.book.rules]
        for nursery, operators in nurseries:
            due = self._due(nursery, prepared, states, day) if operators else None
            if not due:
                continue
            for operator in operators:
                ledger = ledgers.get((operator, nursery.id), EMPTY_LEDGER)
                fresh = [d for d in due if not ledger.covers(d[0].id, d[1].key, d[2])]
                if fresh:
                    advanced = ledger.advanced((rule.id, cycle.key, slot) for rule, cycle, slot in fresh)
                    updates.append(LedgerUpdate(operator, nursery.id, advanced, (nursery, fresh)))

        not_before = self.book.in_window(now, self.tz)

        def build(moved: list[LedgerUpdate]) -> list[NewMessage]:
            per_recipient: dict[int, list[tuple[Nursery, Rule, Cycle]]] = collections.defaultdict(list)
            for update in moved:
                nursery, fresh = update.payload
                per_recipient[update.recipient_id].extend(
                    (nursery, rule, cycle) for rule, cycle, _slot in fresh
                )
            label = day.isoformat()
            return [
                self._reminder_message(recipient, reminders, label, not_before)
                for recipient, reminders in sorted(per_recipient.items())
            ]

        moved, keys = await self.store.advance_and_enqueue(updates, build, self.outbox)
        report.reminders = sum(len(update.payload[1]) for update in moved)
        report.messages = len(keys)
        report.digests = await self._plan_digest(now, digest_keys, nurseries) if digest_keys else 0
        await self.store.prune_ledgers()
        return report

    def _due(
        self,
        nursery: Nursery,
        prepared: list[tuple[Rule, tuple[Cycle | None, str | None, dt.datetime] | None]],
        states: dict[ObligationKey, StateRow],
        day: dt.date,
    ) -> list[tuple[Rule, Cycle, str]]:
        """The nursery's open obligations with a reminder day by ``day``: (rule, cycle, latest reminder
        day as an ISO date). ``prepared``: each rule with its ``_day_plan``.

        The same steps as _obligation and latest_slot, with what does not depend on the nursery worked
        out once per rule: this runs for every nursery of the city on every planning run.
        """
        due = []
        for rule, calendar in prepared:
            if not rule.applies_to(nursery):
                continue
            if calendar is None:
                cycle = rule.cycle_at(nursery, day)
                if cycle is None:
                    continue
                slot = None
            else:
                cycle, slot, send_time = calendar
                if cycle is None or (nursery.registered_on and nursery.registered_on > cycle.opens_on):
                    continue
            if not _known(nursery, rule, cycle):
                continue
            state = states.get((nursery.id, rule.id, cycle.key))
            if state is not None and state.done_at is not None:
                continue
            if (
                rule.auto_done is not None
                and nursery.vacancies_updated_at is not None
                and self._with_state(nursery, rule, cycle, day, state).done
            ):
                continue  # free places updated this cycle: done without a press
            if calendar is None:
                latest = rule.latest_slot(cycle, day)
                if latest is None:
                    continue
                slot = latest.isoformat()
                send_time = self.book.send_time(latest, self.tz)
            elif slot is None:
                continue
            snoozed = state.snoozed_until if state is not None else None
            if snoozed is not None and snoozed >= send_time:
                continue  # "later" was pressed after this reminder day: the snoozed reminder covers it
            due.append((rule, cycle, slot))
        return due

    def _day_plan(self, rule: Rule, day: dt.date) -> tuple[Cycle | None, str | None, dt.datetime] | None:
        """For a calendar rule, its cycle live on ``day`` for a nursery registered in time, that cycle's
        latest reminder day (ISO) and its send time; None for a rule whose cycles depend on the nursery."""
        if rule.schedule.kind == "after":
            return None
        cycle = rule.cycle_at(_PROBE, day)
        slot = rule.latest_slot(cycle, day) if cycle is not None else None
        return cycle, slot.isoformat() if slot else None, self.book.send_time(slot or day, self.tz)

    def _reminder_message(
        self, recipient: int, reminders: list[tuple[Nursery, Rule, Cycle]], day: str, not_before: dt.datetime
    ) -> NewMessage:
        reminders.sort(key=lambda r: (r[2].due_on, r[0].id, r[1].id))
        # The key names the reminders it carries, so two planners that split a run never collide.
        names = "|".join(f"{nursery.id}:{rule.id}:{cycle.key}" for nursery, rule, cycle in reminders)
        return NewMessage(
            key=f"reminders:{recipient}:{day}:{hashlib.sha1(names.encode()).hexdigest()[:12]}",
            recipient_id=recipient,
            kind="reminder",
            template=REMINDER_TEMPLATE,
            params={"items": [_item(*reminder) for reminder in reminders]},
            priority=PRIORITY_REMINDER,
            not_before=not_before,
        )

    async def _digest_keys(self, now: dt.datetime) -> dict[str, int]:
        """This week's digests not enqueued yet (outbox key: recipient); empty before the digest day."""
        local = now.astimezone(self.tz)
        weekday = local.isoweekday()
        if weekday < self.book.digest_weekday or (
            weekday == self.book.digest_weekday and local.time() < self.book.send_at
        ):
            return {}
        label = _week_label(local)
        staff = await self.store.commission_staff(self.admin_ids)
        keys = {f"digest:{person}:{label}": person for person in staff}
        existing = await self.outbox.existing_keys(list(keys))
        return {k: person for k, person in keys.items() if k not in existing}

    async def _plan_digest(
        self, now: dt.datetime, keys: dict[str, int], nurseries: list[tuple[Nursery, tuple[int, ...]]]
    ) -> int:
        label = _week_label(now.astimezone(self.tz))
        missing = list(keys)
        overdue = await self.overdue(nurseries=nurseries)
        if not overdue:
            return 0
        districts = collections.Counter(
            district for district, _id in {(o.nursery.district or "", o.nursery.id) for o in overdue}
        )
        params = {
            "week": label,
            "nurseries": len({o.nursery.id for o in overdue}),
            "obligations": len(overdue),
            "districts": [[d, n] for d, n in sorted(districts.items(), key=lambda x: (-x[1], x[0]))],
        }
        not_before = self.book.in_window(now, self.tz)
        messages = [
            NewMessage(
                key=key,
                recipient_id=keys[key],
                kind="digest",
                template=DIGEST_TEMPLATE,
                params=params,
                priority=PRIORITY_DIGEST,
                not_before=not_before,
            )
            for key in missing
        ]
        return len(await self.outbox.enqueue_many(messages))

    # -- what a run will send -----------------------------------------------------------------------
    async def preview(self, *, days: int = 30, credit_code: str | None = None) -> list[PlannedReminder]:
        """Reminder days from now until ``days`` ahead, with what is due now but not yet planned."""
        now = self.clock.now()
        day = self.book.effective_day(now, self.tz)
        end = self.today(now) + dt.timedelta(days=days)
        nurseries = await self.store.nurseries(credit_code=credit_code, operated_only=credit_code is None)
        ids = [n.id for n, _ in nurseries]
        states = await self.store.states(self._cycle_filter(day), institution_ids=ids)
        ledgers = await self.store.ledgers(institution_ids=ids)
        planned: list[PlannedReminder] = []
        for nursery, operators in nurseries:
            for rule in self.book.rules:
                if not rule.applies_to(nursery):
                    continue
                current = self._obligation(nursery, rule, day, states)
                if current is not None and not current.done:
                    slot = rule.latest_slot(current.cycle, day)
                    if slot is not None:
                        for operator in operators or (None,):
                            sent = operator is not None and ledgers.get(
                                (operator, nursery.id), EMPTY_LEDGER
                            ).covers(rule.id, current.cycle.key, slot.isoformat())
                            planned.append(
                                self._planned(
                                    current,
                                    operator,
                                    self.book.send_time(slot, self.tz),
                                    "sent" if sent else "due now",
                                )
                            )
                for cycle in rule.cycles_between(nursery, day + dt.timedelta(days=1), end):
                    state = states.get((nursery.id, rule.id, cycle.key))
                    obligation = self._with_state(nursery, rule, cycle, day, state)
                    if obligation.done:
                        continue
                    for slot in rule.slots(cycle, day + dt.timedelta(days=1), end):
                        for operator in operators or (None,):
                            planned.append(
                                self._planned(
                                    obligation, operator, self.book.send_time(slot, self.tz), "upcoming"
                                )
                            )
        planned.sort(key=lambda p: (p.send_at, p.institution_id, p.rule_id, p.recipient_id or 0))
        return planned

    def _planned(self, o: Obligation, recipient: int | None, at: dt.datetime, status: str) -> PlannedReminder:
        return PlannedReminder(
            send_at=at,
            recipient_id=recipient,
            institution_id=o.nursery.id,
            credit_code=o.nursery.credit_code,
            institution=o.nursery.name,
            rule_id=o.rule.id,
            cycle=o.cycle.key,
            due_on=o.cycle.due_on,
            status=status,
        )

    # -- operators: /tasks, done, later -----------------------------------------------------------
    async def tasks_for(self, user_id: int) -> list[Obligation]:
        """The operator's obligations: overdue, due within the horizon, and those done this cycle."""
        today = self.today()
        nurseries = await self._operated_by(user_id)
        if not nurseries:
            return []
        states = await self.store.states(self._cycle_filter(today), institution_ids=[n.id for n in nurseries])
        found = []
        for nursery in nurseries:
            for rule in self.book.rules:
                obligation = self._obligation(nursery, rule, today, states)
                if obligation is None:
                    continue
                if obligation.done or obligation.days_left <= TASKS_HORIZON_DAYS:
                    found.append(obligation)
        found.sort(key=lambda o: (o.done, o.cycle.due_on, o.nursery.id, o.rule.id))
        return found

    async def mark_done(self, user_id: int, institution_id: int, rule_id: str, cycle: str) -> DoneResult:
        """Close the obligation for its cycle: its reminders stop (for every operator of the nursery)."""
        obligation = await self._operated_obligation(user_id, institution_id, rule_id, cycle)
        if not obligation.rule.can_mark_done:
            raise ComplianceError("not_markable")
        first = await self.store.set_done(obligation.key, user_id)
        if first:
            await self.outbox.cancel(key_prefix=_snooze_prefix(obligation.key))
            await audit.record(
                self.db,
                self.clock,
                actor_id=user_id,
                action="compliance.done",
                target=f"institution:{institution_id}",
                details={"rule": rule_id, "cycle": cycle},
            )
            obligation = dataclasses.replace(obligation, done_at=self.clock.now(), snoozed_until=None)
        return DoneResult(obligation, already=not first)

    async def snooze(self, user_id: int, institution_id: int, rule_id: str, cycle: str) -> dt.datetime:
        """Put the reminder off by the rules' snooze days; returns when it comes back."""
        obligation = await self._operated_obligation(user_id, institution_id, rule_id, cycle)
        if obligation.done:
            raise ComplianceError("already_done")
        now = self.clock.now()
        until = self.book.send_time(self.today(now) + dt.timedelta(days=self.book.snooze_days), self.tz)
        await self.store.set_snoozed(obligation.key, until.astimezone(dt.UTC))
        await self.outbox.enqueue(
            NewMessage(
                key=f"{_snooze_prefix(obligation.key)}{user_id}:{until.astimezone(dt.UTC):%Y%m%d%H%M}",
                recipient_id=user_id,
                kind="reminder",
                template=REMINDER_TEMPLATE,
                params={"items": [_item(obligation.nursery, obligation.rule, obligation.cycle)]},
                priority=PRIORITY_REMINDER,
                not_before=until,
            )
        )
        return until

    async def _operated_by(self, user_id: int) -> list[Nursery]:
        from bot.directory import repository as directory

        institutions = await directory.institutions_for_operator(self.db, user_id)
        return [nursery_from(i, self.tz) for i in institutions]

    async def _operated_obligation(
        self, user_id: int, institution_id: int, rule_id: str, cycle: str
    ) -> Obligation:
        nursery = next((n for n in await self._operated_by(user_id) if n.id == institution_id), None)
        if nursery is None:
            raise ComplianceError("not_operator")
        rule = self.book.rule(rule_id)
        if rule is None or not rule.applies_to(nursery):
            raise ComplianceError("unknown_obligation")
        today = self.today()
        live = rule.cycles_between(nursery, today - dt.timedelta(days=DONE_LOOKBACK_DAYS), today)
        found = next((c for c in live if c.key == cycle), None)
        if found is None:
            raise ComplianceError("unknown_obligation")
        states = await self.store.states(
            CycleFilter(frozenset({(rule_id, cycle)}), frozenset()), institution_ids=[institution_id]
        )
        return self._with_state(nursery, rule, found, today, states.get((institution_id, rule_id, cycle)))

    # -- the commission: /overdue and the digest -----------------------------------------------------
    async def overdue(
        self, *, nurseries: list[tuple[Nursery, tuple[int, ...]]] | None = None
    ) -> list[Obligation]:
        """Obligations overdue long enough to be escalated, every nursery of the register, by district.
        ``nurseries``: the whole register, when the caller has just read it."""
        today = self.today()
        if nurseries is None:
            nurseries = await self.store.nurseries()
        states = await self.store.states(self._cycle_filter(today))
        found = []
        escalating = [
            (r, r.escalate_after_days or 0) for r in self.book.rules if r.escalate_after_days is not None
        ]
        with collector_paused():
            for nursery, _operators in nurseries:
                for rule, after in escalating:
                    cycle = rule.cycle_at(nursery, today) if rule.applies_to(nursery) else None
                    # Most obligations are nowhere near escalation: the due date alone rules them out.
                    if (
                        cycle is None
                        or (today - cycle.due_on).days <= after
                        or not _known(nursery, rule, cycle)
                    ):
                        continue
                    obligation = self._with_state(
                        nursery, rule, cycle, today, states.get((nursery.id, rule.id, cycle.key))
                    )
                    if obligation.escalated:
                        found.append(obligation)
        found.sort(
            key=lambda o: (o.nursery.district or "\uffff", o.nursery.name, o.nursery.id, o.cycle.due_on)
        )
        return found

    # -- evaluation ---------------------------------------------------------------------------------
    def _obligation(
        self, nursery: Nursery, rule: Rule, day: dt.date, states: dict[ObligationKey, StateRow]
    ) -> Obligation | None:
        if not rule.applies_to(nursery):
            return None
        cycle = rule.cycle_at(nursery, day)
        if cycle is None or not _known(nursery, rule, cycle):
            return None
        return self._with_state(nursery, rule, cycle, day, states.get((nursery.id, rule.id, cycle.key)))

    def _with_state(
        self, nursery: Nursery, rule: Rule, cycle: Cycle, day: dt.date, state: StateRow | None
    ) -> Obligation:
        done_at = state.done_at if state else None
        updated = nursery.vacancies_updated_at
        # Free places updated during the cycle are what the reminder asks for: done without a press.
        if (
            done_at is None
            and rule.auto_done == "vacancies_updated"
            and updated is not None
            and updated.astimezone(self.tz).date() >= cycle.opens_on
        ):
            done_at = updated
        return Obligation(nursery, rule, cycle, day, done_at, state.snoozed_until if state else None)

    def _cycle_filter(self, day: dt.date) -> CycleFilter:
        pairs = set()
        whole = set()
        probe = Nursery(0, "", "", None, None, None, None)
        for rule in self.book.rules:
            if rule.schedule.kind == "after":
                whole.add(rule.id)
                continue
            # The cycles live around ``day``: today's, and yesterday's in case the day changed under us.
            for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)):
                cycle = rule.cycle_at(probe, d)
                if cycle is not None:
                    pairs.add((rule.id, cycle.key))
        return CycleFilter(frozenset(pairs), frozenset(whole))


def _known(nursery: Nursery, rule: Rule, cycle: Cycle) -> bool:
    """Whether the bot can tell where ``cycle`` stands. It only knows a duty is done when someone tells it:
    a cycle that fell due before the nursery entered the register is unknown, not overdue (no launch-day
    flood of old deadlines). Filing is read from the register itself, so it always counts."""
    return not (
        (rule.can_mark_done or rule.auto_done) and nursery.listed_on and cycle.due_on < nursery.listed_on
    )


def _week_label(local: dt.datetime) -> str:
    year, week, _weekday = local.isocalendar()
    return f"{year}-W{week:02d}"


def _snooze_prefix(key: ObligationKey) -> str:
    return f"snooze:{key[0]}:{key[1]}:{key[2]}:"


def _item(nursery: Nursery, rule: Rule, cycle: Cycle) -> dict[str, Any]:
    """An obligation as an outbox row carries it: enough to render it in any language later. The rule's
    title and message are looked up when it is rendered (see ``rule_texts``)."""
    return {
        "institution_id": nursery.id,
        "name": nursery.name,
        "rule": rule.id,
        "cycle": cycle.key,
        "due": cycle.due_on.isoformat(),
        "can_mark_done": rule.can_mark_done,
    }


def rule_texts(item: dict[str, Any]) -> tuple[str, str] | None:
    """The (title, message) msgids of a carried obligation: those of its rule in the rules file, or those
    the item carries itself (rows planned before items stopped carrying them). None: the rule is gone."""
    if "title" in item and "message" in item:
        return str(item["title"]), str(item["message"])
    rule = default_rules().rule(str(item.get("rule")))
    return (rule.title, rule.message) if rule is not None else None


def button_data(prefix: str, institution_id: int, rule_id: str, cycle: str) -> str:
    """Callback data of a reminder's buttons; within Telegram's 64 bytes (rule ids are at most 24)."""
    return f"{prefix}:{institution_id}:{rule_id}:{cycle}"


def parse_button_data(data: str) -> tuple[str, int, str, str] | None:
    """(prefix, institution id, rule id, cycle) from callback data, or None when it is not ours."""
    parts = data.split(":")
    if (
        len(parts) != 5
        or f"{parts[0]}:{parts[1]}" not in (DONE_PREFIX, LATER_PREFIX)
        or not parts[2].isdigit()
    ):
        return None
    return f"{parts[0]}:{parts[1]}", int(parts[2]), parts[3], parts[4]


# -- rendering --------------------------------------------------------------------------------------
def status_line(due: dt.date, today: dt.date, context: RenderContext) -> str:
    """The status of a due date in the reader's language: due in 3 days, due today, 12 days overdue."""
    # Separate messages for one day rather than plural forms: Chinese has none, and the catalogs keep
    # to plain msgids.
    days = (due - today).days
    when = context.date(due)
    _ = context._
    if days > 1:
        return _("Due {date} (in {n} days)", date=when, n=days)
    if days == 1:
        return _("Due tomorrow ({date})", date=when)
    if days == 0:
        return _("Due today ({date})", date=when)
    if days == -1:
        return _("Overdue since yesterday ({date})", date=when)
    return _("Overdue since {date} ({n} days)", date=when, n=-days)


def describe(o: Obligation, context: RenderContext) -> str:
    """One obligation in a list (/tasks, /overdue): its title, the nursery and where it stands."""
    _ = context._
    state = _("done") if o.done else status_line(o.cycle.due_on, o.today, context)
    title = _(o.rule.title)
    return f"{title} — {o.nursery.name}\n   {state}"


def obligation_buttons(obligations: Sequence[Obligation], context: RenderContext) -> dict[str, Any]:
    """The Done / Remind me later buttons of the open obligations among ``obligations``, numbered."""
    return reminder_buttons(
        [_item(o.nursery, o.rule, o.cycle) for o in obligations if not o.done],
        context,
        numbers=[i for i, o in enumerate(obligations, start=1) if not o.done],
    )


def obligation_text(item: dict[str, Any], texts: tuple[str, str], context: RenderContext) -> str:
    """The title, the message (``texts``, see ``rule_texts``) and the status of one carried obligation."""
    _: Translate = context._
    due = dt.date.fromisoformat(item["due"])
    title, message = texts
    text = _(message, name=item["name"], due=context.date(due))
    return f"{_(title)}\n{text}\n{status_line(due, context.today, context)}"


def reminder_buttons(
    items: Sequence[dict[str, Any]], context: RenderContext, *, numbers: Sequence[int] | None = None
) -> dict[str, Any]:
    _ = context._
    done, later = _("Done"), _("Remind me later")
    numbered = numbers is not None or len(items) > 1
    rows = []
    for index, item in zip(numbers or range(1, len(items) + 1), items, strict=True):
        label = f"{index}. " if numbered else ""
        args = (item["institution_id"], item["rule"], item["cycle"])
        row = []
        if item.get("can_mark_done"):
            row.append({"text": f"✅ {label}{done}", "callback_data": button_data(DONE_PREFIX, *args)})
        row.append({"text": f"⏰ {label}{later}", "callback_data": button_data(LATER_PREFIX, *args)})
        rows.append(row)
    return {"inline_keyboard": rows}


@template(REMINDER_TEMPLATE)
def render_reminders(params: dict[str, Any], context: RenderContext) -> Rendered | None:
    """One reminder, or several coalesced into one message ("3 deadlines need your attention"). An item
    whose rule has left the rules file since it was planned is left out."""
    known = [(item, texts) for item in params.get("items") or [] if (texts := rule_texts(item)) is not None]
    if not known:
        return None
    items = [item for item, _texts in known]
    _ = context._
    if len(known) == 1:
        text = "⏰ " + obligation_text(*known[0], context)
    else:
        header = _("{n} deadlines need your attention:", n=len(known))
        body = "\n\n".join(
            f"{i}. {obligation_text(item, texts, context)}" for i, (item, texts) in enumerate(known, start=1)
        )
        text = f"⏰ {header}\n\n{body}"
    text += "\n\n" + _("/tasks lists all your deadlines.")
    return Rendered(text, reminder_buttons(items, context))


@template(DIGEST_TEMPLATE)
def render_digest(params: dict[str, Any], context: RenderContext) -> Rendered | None:
    """The commission's weekly digest of escalated, overdue nurseries."""
    _ = context._
    nurseries = int(params.get("nurseries") or 0)
    if not nurseries:
        return None
    lines = [
        _("Weekly compliance digest, {week}", week=params.get("week", "")),
        _("Nurseries with an overdue filing or report: {n}", n=nurseries),
    ]
    unknown = _("District unknown")
    for district, count in params.get("districts") or []:
        lines.append(f"• {district or unknown}: {count}")
    lines.append(_("Send /overdue for the list."))
    return Rendered("\n".join(lines))
