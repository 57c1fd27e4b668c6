"""The compliance rules file and its date arithmetic: cycles, reminder days, send times across the
Asia/Shanghai midnight, and the checks that refuse a malformed file."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
import yaml

from bot.directory.categories import LegalForm
from schedules.compliance import RULE_MSGIDS
from schedules.rules import RULES_FILE, Nursery, RuleError, default_rules, parse_rules

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


def nursery(**kwargs: Any) -> Nursery:
    values: dict[str, Any] = {
        "id": 1,
        "name": "阳光托育",
        "credit_code": "X",
        "district": "思明区",
        "legal_form": LegalForm.ENTERPRISE.value,
        "registered_on": dt.date(2020, 1, 1),
        "filed_on": dt.date(2020, 2, 1),
    }
    values.update(kwargs)
    return Nursery(**values)


def test_the_bundled_rules_load_and_cover_the_duties_of_facts_md() -> None:
    book = default_rules()
    assert {r.id for r in book.rules} >= {
        "filing", "annual_report", "npo_inspect_sup", "npo_inspect_reg", "year_end_report",
        "free_places", "cctv_check", "emergency_drill",
    }  # fmt: skip
    assert book.send_at == dt.time(9, 0)
    for rule in book.rules:
        assert rule.source and rule.confidence in ("FOUND", "MEMORY")
    assert {r.id for r in book.rules if r.confidence == "MEMORY"} >= {"npo_inspect_sup", "npo_inspect_reg"}


def test_every_msgid_of_the_rules_file_is_marked_for_translation() -> None:
    for rule in default_rules().rules:
        assert rule.title in RULE_MSGIDS, f"mark {rule.title!r} with N_ in schedules/compliance.py"
        assert rule.message in RULE_MSGIDS, f"mark {rule.message!r} with N_ in schedules/compliance.py"


def test_filing_is_reminded_weekly_while_unfiled() -> None:
    rule = default_rules().rule("filing")
    assert rule is not None
    unfiled = nursery(registered_on=dt.date(2026, 12, 1), filed_on=None)
    assert rule.applies_to(unfiled) and not rule.applies_to(nursery())
    cycle = rule.cycle_at(unfiled, dt.date(2027, 1, 15))
    assert cycle is not None and cycle.due_on == dt.date(2026, 12, 31)
    assert rule.latest_slot(cycle, dt.date(2027, 1, 15)) == dt.date(2027, 1, 12)
    assert rule.slots(cycle, dt.date(2027, 1, 1), dt.date(2027, 1, 31)) == [
        dt.date(2027, 1, 5), dt.date(2027, 1, 12), dt.date(2027, 1, 19), dt.date(2027, 1, 26),
    ]  # fmt: skip
    assert rule.cycle_at(nursery(registered_on=None, filed_on=None), dt.date(2027, 1, 15)) is None


def test_the_annual_report_window_and_its_reminders() -> None:
    rule = default_rules().rule("annual_report")
    assert rule is not None
    cycle = rule.cycle_at(nursery(), dt.date(2027, 6, 20))
    assert cycle is not None and (cycle.key, cycle.opens_on, cycle.due_on) == (
        "2027",
        dt.date(2027, 1, 1),
        dt.date(2027, 6, 30),
    )
    assert rule.slots(cycle, dt.date(2027, 6, 1), dt.date(2027, 7, 8)) == [
        dt.date(2027, 6, 16), dt.date(2027, 6, 23), dt.date(2027, 6, 27), dt.date(2027, 6, 29),
        dt.date(2027, 6, 30), dt.date(2027, 7, 7),
    ]  # fmt: skip
    assert rule.latest_slot(cycle, dt.date(2027, 6, 15)) is None
    # Private non-enterprise units do not file an enterprise report; a nursery registered this year has
    # no year to report on.
    assert not rule.applies_to(nursery(legal_form=LegalForm.PRIVATE_NON_ENTERPRISE.value))
    assert rule.cycle_at(nursery(registered_on=dt.date(2027, 3, 1)), dt.date(2027, 6, 20)) is None


def test_periodic_rules_run_in_calendar_periods() -> None:
    book = default_rules()
    drill, places = book.rule("emergency_drill"), book.rule("free_places")
    assert drill is not None and places is not None
    cycle = drill.cycle_at(nursery(), dt.date(2027, 8, 3))
    assert cycle is not None and (cycle.key, cycle.due_on) == ("2027-07", dt.date(2027, 12, 31))
    monthly = places.cycle_at(nursery(), dt.date(2027, 2, 14))
    assert monthly is not None and (monthly.key, monthly.due_on) == ("2027-02", dt.date(2027, 2, 28))
    assert places.latest_slot(monthly, dt.date(2027, 2, 14)) == dt.date(2027, 2, 1)


def test_a_reminder_day_begins_at_nine_in_shanghai_not_at_utc_midnight() -> None:
    book = default_rules()
    # 2027-06-29 16:30 UTC is already 30 June 00:30 in Shanghai, but before 09:00: still 29 June's turn.
    assert book.effective_day(dt.datetime(2027, 6, 29, 16, 30, tzinfo=dt.UTC), TZ) == dt.date(2027, 6, 29)
    assert book.effective_day(dt.datetime(2027, 6, 30, 0, 59, tzinfo=dt.UTC), TZ) == dt.date(2027, 6, 29)
    assert book.effective_day(dt.datetime(2027, 6, 30, 1, 0, tzinfo=dt.UTC), TZ) == dt.date(2027, 6, 30)
    assert book.send_time(dt.date(2027, 6, 30), TZ) == dt.datetime(2027, 6, 30, 1, 0, tzinfo=dt.UTC)
    # 23:30 in Shanghai is quiet: a message planned then waits for 08:00.
    night = dt.datetime(2027, 6, 30, 15, 30, tzinfo=dt.UTC)
    assert book.in_window(night, TZ) == dt.datetime(2027, 7, 1, 0, 0, tzinfo=dt.UTC)
    assert book.in_window(dt.datetime(2027, 6, 30, 2, 0, tzinfo=dt.UTC), TZ) == dt.datetime(
        2027, 6, 30, 2, 0, tzinfo=dt.UTC
    )


def test_a_window_across_new_year() -> None:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    data["rules"] = [
        {
            "id": "winter",
            "title": "t",
            "message": "m",
            "source": "s",
            "confidence": "MEMORY",
            "due": {"yearly": {"opens": "12-01", "due": "01-15"}},
            "remind": {"days_before": [7, 0]},
        }
    ]
    rule = parse_rules(data).rules[0]
    cycle = rule.cycle_at(nursery(), dt.date(2028, 1, 10))
    assert cycle is not None and (cycle.key, cycle.due_on) == ("2027", dt.date(2028, 1, 15))
    assert rule.latest_slot(cycle, dt.date(2028, 1, 10)) == dt.date(2028, 1, 8)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"id": "Bad-Id"}, "id must be"),
        ({"due": {"yearly": {"opens": "01-01", "due": "02-29"}}}, "02-29"),
        ({"due": {"periodic": {"months": 5}}}, "divide 12"),
        ({"due": {"after": {"anchor": "opened_on", "days": 3}}}, "anchor"),
        ({"remind": {}}, "remind"),
        ({"applies_to": {"legal_forms": ["company"]}}, "unknown legal forms"),
        ({"confidence": "SURE"}, "FOUND or MEMORY"),
        ({"escalate_after_days": -1}, "escalate_after_days"),
    ],
)
def test_a_malformed_rule_is_refused_with_its_name(change: dict[str, Any], complaint: str) -> None:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    data["rules"][1].update(change)
    with pytest.raises(RuleError, match=complaint):
        parse_rules(data)


def test_duplicate_ids_and_a_send_time_outside_the_window_are_refused() -> None:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    data["rules"].append(dict(data["rules"][0]))
    with pytest.raises(RuleError, match="duplicate"):
        parse_rules(data)
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    data["send_at"] = "22:00"
    with pytest.raises(RuleError, match="send_window"):
        parse_rules(data)
