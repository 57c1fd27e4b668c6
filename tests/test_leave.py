"""Tests of the leave calculator: every provincial row against FACTS.md, the special rules, bad input,
properties of every plan, and reading leave questions in Simplified, Traditional and English."""

from __future__ import annotations

import ast
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.leave import (
    BirthDateOutOfRange,
    Confidence,
    InvalidBabies,
    InvalidChildOrder,
    InvalidDate,
    InvalidPregnancyMonths,
    InvalidStartDate,
    LeaveInputError,
    LeaveKind,
    LeavePlan,
    PolicyDataError,
    Source,
    UnknownProvince,
    load_policy,
    miscarriage_leave,
    parse_date,
    parse_leave_question,
    plan_leave,
    resolve_province,
    validate_birth_date,
)

TABLE = load_policy()
BIRTH = date(2026, 3, 5)

# The expected figures below are written from shared/domain/FACTS.md section 2, not read from the
# YAML, so a typo in the data file fails here.
# region: (产假 total, total max for a range, 陪产/护理假, 育儿假 per year, until age, overall confidence)
FACTS_ROWS: dict[str, tuple[int, int | None, int | None, int | None, int | None, str]] = {
    "北京": (158, None, 15, 5, 3, "FOUND"),
    "天津": (158, None, 15, 10, 3, "FOUND"),
    "河北": (158, None, 15, 10, 3, "MEMORY"),
    "山西": (158, None, 15, 15, 3, "MEMORY"),
    "内蒙古": (158, None, 25, 10, 3, "MEMORY"),
    "辽宁": (158, None, 20, 10, 3, "MEMORY"),
    "吉林": (158, None, 25, 20, 3, "MEMORY"),
    "黑龙江": (180, None, 15, 10, 3, "MEMORY"),
    "上海": (158, None, 10, 5, 3, "MEMORY"),
    "江苏": (158, None, 15, 10, 3, "MEMORY"),
    "浙江": (158, None, 15, 10, 3, "FOUND"),
    "安徽": (158, None, 30, 10, 3, "MEMORY"),
    "福建": (158, 180, 15, 10, 3, "MEMORY"),
    "江西": (188, None, 30, 10, 3, "MEMORY"),
    "山东": (158, None, 7, 10, 3, "MEMORY"),
    "河南": (188, None, 30, 10, 3, "FOUND"),
    "湖北": (158, None, 15, 10, 3, "MEMORY"),
    "湖南": (158, None, 20, 10, 3, "FOUND"),
    "广东": (178, None, 15, 10, 3, "FOUND"),
    "广西": (148, None, 25, 10, 3, "MEMORY"),
    "海南": (188, None, 15, 10, 3, "MEMORY"),
    "重庆": (178, None, 20, 5, 6, "MEMORY"),
    "四川": (188, None, 20, 10, 3, "MEMORY"),  # BIRTH is after 2025-11-28
    "贵州": (158, None, 15, 10, 3, "MEMORY"),
    "云南": (158, None, 30, 10, 3, "FOUND"),
    "西藏": (98, None, None, None, None, "UNKNOWN"),
    "陕西": (158, None, 15, 15, 3, "MEMORY"),
    "甘肃": (98, None, None, None, None, "UNKNOWN"),
    "青海": (188, None, 15, 15, 3, "MEMORY"),
    "宁夏": (158, None, 25, 10, 3, "MEMORY"),
    "新疆": (158, None, 15, None, None, "MEMORY"),
}

MATERNITY = "maternity.provincial_extra"
PATERNITY = "paternity.days"
PARENTAL = "parental.days_per_year"
ALL_THREE = {MATERNITY, PATERNITY, PARENTAL}
BOTH_OTHERS = {PATERNITY, PARENTAL}
# Which figures FACTS does not mark FOUND, row by row (the "mark" column).
FACTS_UNVERIFIED: dict[str, set[str]] = {
    "北京": set(),
    "天津": set(),
    "河北": {MATERNITY, PATERNITY},
    "山西": ALL_THREE,
    "内蒙古": {PARENTAL},
    "辽宁": ALL_THREE,
    "吉林": ALL_THREE,
    "黑龙江": ALL_THREE,
    "上海": BOTH_OTHERS,
    "江苏": BOTH_OTHERS,
    "浙江": set(),
    "安徽": BOTH_OTHERS,
    "福建": BOTH_OTHERS,
    "江西": ALL_THREE,
    "山东": BOTH_OTHERS,
    "河南": set(),
    "湖北": BOTH_OTHERS,
    "湖南": set(),
    "广东": set(),
    "广西": BOTH_OTHERS,
    "海南": ALL_THREE,
    "重庆": BOTH_OTHERS,
    "四川": {PATERNITY},
    "贵州": ALL_THREE,
    "云南": set(),
    "西藏": ALL_THREE,
    "陕西": BOTH_OTHERS,
    "甘肃": ALL_THREE,
    "青海": ALL_THREE,
    "宁夏": ALL_THREE,
    "新疆": BOTH_OTHERS,
}

NATIONAL_DOCUMENT = "女职工劳动保护特别规定"
NATIONAL_NUMBER = "国务院令第619号"


def plan(name: str, birth_date: date = BIRTH, **kwargs: Any) -> LeavePlan:
    return plan_leave(name, birth_date, table=TABLE, **kwargs)


# --------------------------------------------------------------------------- the table


def test_table_has_exactly_the_31_regions_of_facts() -> None:
    assert sorted(p.name for p in TABLE) == sorted(FACTS_ROWS)


def test_national_rule_matches_facts_section_1() -> None:
    national = TABLE.national
    assert (national.maternity_days, national.max_days_before_birth) == (98, 15)
    assert (national.difficult_birth_days, national.per_additional_baby_days) == (15, 15)
    assert (national.miscarriage_before_4_months_days, national.miscarriage_from_4_months_days) == (15, 42)
    assert national.source.document == NATIONAL_DOCUMENT
    assert national.source.number == NATIONAL_NUMBER
    assert national.source.effective == "2012-04-28"
    assert national.source.confidence is Confidence.FOUND


def test_default_table_is_loaded_once() -> None:
    assert load_policy() is load_policy()


@pytest.mark.parametrize("name", sorted(FACTS_ROWS))
def test_every_province_row_matches_facts(name: str) -> None:
    total, total_max, paternity, parental, until_age, confidence = FACTS_ROWS[name]
    result = plan(name)
    assert result.province.name == name
    assert result.maternity.total_days == total
    assert result.maternity.total_days_max == total_max
    assert result.paternity.days == paternity
    assert result.parental.days_per_year == parental
    assert result.parental.until_age == until_age
    assert result.confidence == confidence
    assert set(result.unverified) == FACTS_UNVERIFIED[name]
    assert result.maternity.start == BIRTH
    assert result.maternity.end == BIRTH + timedelta(days=total - 1)


@pytest.mark.parametrize("name", sorted(FACTS_ROWS))
def test_every_figure_carries_a_source(name: str) -> None:
    result = plan(name, child_order=3, babies=2, difficult=True)
    for part in result.maternity.breakdown:
        assert part.days > 0
        assert part.source.document or part.source.number
        assert part.source.confidence in (Confidence.FOUND, Confidence.MEMORY)
        assert part.reason_text
    for figure, source in (
        (result.paternity.days, result.paternity.source),
        (result.parental.days_per_year, result.parental.source),
    ):
        assert (figure is None) == (source is None)
        if source is not None:
            assert source.document or source.number


@pytest.mark.parametrize(
    ("name", "kind", "effective", "number"),
    [
        ("北京", "maternity", "2021-11-26", None),
        ("天津", "paternity", "2021-11-29", None),
        ("河北", "parental", "2021-11-23", None),
        ("浙江", "maternity", "2021-11-25", None),
        ("河南", "parental", "2021-11-27", None),
        ("湖南", "paternity", "2021-12-03", None),
        ("广东", "maternity", "2021-12-01", None),
        ("江苏", "maternity", "2022-02-10", "苏发〔2022〕8号"),
        ("上海", "maternity", None, "沪府规〔2022〕18号"),
        ("山东", "maternity", "2025-01-18", None),
        ("陕西", "maternity", "2022-05-25", None),
        ("四川", "parental", "2021-09-29", None),
        ("四川", "maternity", "2025-11-28", None),
        ("内蒙古", "paternity", "2016", None),
        ("广西", "maternity", "2016", None),
        ("福建", "maternity", None, None),
    ],
)
def test_sources_carry_the_dates_and_numbers_facts_gives(
    name: str, kind: str, effective: str | None, number: str | None
) -> None:
    result = plan(name)
    source: Source | None
    if kind == "maternity":
        source = next(p.source for p in result.maternity.breakdown if p.reason == "provincial_extra")
    elif kind == "paternity":
        source = result.paternity.source
    else:
        source = result.parental.source
    assert source is not None
    assert source.effective == effective
    assert source.number == number


def test_regulation_is_the_provincial_population_and_family_planning_regulation() -> None:
    for province in TABLE:
        if province.known:
            assert province.regulation == f"{province.full_name}人口与计划生育条例"
        else:
            assert province.regulation is None


def test_low_and_weak_marks_are_kept() -> None:
    for name in ("辽宁", "黑龙江", "贵州", "青海"):
        assert "low-confidence" in plan(name).note_codes
    for name in ("云南", "新疆"):
        assert "weak-source" in plan(name).note_codes
    assert "low-confidence" not in plan("浙江").note_codes


# --------------------------------------------------------------------------- special rules


def test_guangdong_difficult_birth_adds_30_instead_of_15() -> None:
    result = plan("广东", difficult=True)
    assert result.maternity.total_days == 178 + 30 == 208
    difficult = [p for p in result.maternity.breakdown if p.reason == "difficult_birth"]
    assert [p.days for p in difficult] == [30]
    assert difficult[0].source.document == "广东省人口与计划生育条例"


def test_difficult_birth_elsewhere_adds_the_national_15() -> None:
    result = plan("天津", difficult=True)
    assert result.maternity.total_days == 173
    difficult = next(p for p in result.maternity.breakdown if p.reason == "difficult_birth")
    assert difficult.source.number == NATIONAL_NUMBER


@pytest.mark.parametrize(("child_order", "total"), [(1, 158), (2, 188), (3, 188)])
def test_zhejiang_second_and_third_child_188(child_order: int, total: int) -> None:
    assert plan("浙江", child_order=child_order).maternity.total_days == total


@pytest.mark.parametrize(("child_order", "total"), [(1, 158), (2, 158), (3, 158 + 90)])
def test_hebei_third_child_adds_90(child_order: int, total: int) -> None:
    result = plan("河北", child_order=child_order)
    assert result.maternity.total_days == total
    if child_order == 3:
        rule = next(p for p in result.maternity.breakdown if p.reason == "child_order")
        assert (rule.days, rule.source.confidence, rule.source.effective) == (
            90,
            Confidence.FOUND,
            "2021-11-23",
        )
        assert MATERNITY in result.unverified  # the 158 itself is MEMORY


@pytest.mark.parametrize(("child_order", "total"), [(1, 158), (2, 158), (3, 173)])
def test_shaanxi_third_child_adds_15(child_order: int, total: int) -> None:
    assert plan("陕西", child_order=child_order).maternity.total_days == total


@pytest.mark.parametrize(("birth_date", "total"), [(date(2025, 11, 27), 158), (date(2025, 11, 28), 188)])
def test_sichuan_depends_on_the_birth_date(birth_date: date, total: int) -> None:
    result = plan("四川", birth_date=birth_date)
    assert result.maternity.total_days == total
    assert "rule-by-birth-date" in result.note_codes


def test_fujian_is_a_range_the_employer_chooses() -> None:
    result = plan("福建")
    assert (result.maternity.total_days, result.maternity.total_days_max) == (158, 180)
    assert result.maternity.end == BIRTH + timedelta(days=157)
    assert result.maternity.end_max == BIRTH + timedelta(days=179)
    assert "employer-chooses-within-range" in result.note_codes
    data = result.to_dict()["maternity"]
    assert (data["total_days"], data["total_days_max"]) == (158, 180)
    difficult = plan("福建", difficult=True)
    assert (difficult.maternity.total_days, difficult.maternity.total_days_max) == (173, 195)


@pytest.mark.parametrize("name", ["北京", "吉林"])
def test_employer_may_extend(name: str) -> None:
    result = plan(name)
    assert "employer-may-extend" in result.note_codes
    assert result.maternity.total_days == 158  # the extension is a note, never added to the total


def test_beijing_parental_leave_is_in_working_days() -> None:
    result = plan("北京")
    assert result.parental.days_per_year == 5
    assert result.parental.working_days
    assert "parental-working-days" in result.note_codes


def test_chongqing_parental_leave_is_5_to_10_days_until_6() -> None:
    result = plan("重庆")
    assert (result.parental.days_per_year, result.parental.days_per_year_max, result.parental.until_age) == (
        5,
        10,
        6,
    )
    assert "parental-range" in result.note_codes


@pytest.mark.parametrize(("babies", "extra"), [(1, 0), (2, 15), (3, 30)])
def test_multiple_births_add_15_per_additional_baby(babies: int, extra: int) -> None:
    assert plan("天津", babies=babies).maternity.total_days == 158 + extra
    assert plan("西藏", babies=babies).maternity.total_days == 98 + extra


def test_child_beyond_the_third_is_flagged_not_guessed() -> None:
    result = plan("浙江", child_order=4)
    assert result.maternity.total_days == 158
    assert "child-order-not-covered" in result.note_codes
    assert "maternity.child_order" in result.unverified
    assert result.confidence is Confidence.MEMORY


def test_every_plan_carries_the_national_notes() -> None:
    codes = plan("浙江").note_codes
    assert "up-to-15-days-before-birth" in codes
    assert "caesarean-not-automatically-difficult" in codes


@pytest.mark.parametrize("name", ["西藏", "甘肃"])
def test_unknown_regions_say_98_and_claim_nothing_else(name: str) -> None:
    result = plan(name)
    assert result.maternity.total_days == 98
    assert [p.reason for p in result.maternity.breakdown] == ["national_base"]
    assert all(p.source.number == NATIONAL_NUMBER for p in result.maternity.breakdown)
    assert (result.paternity.days, result.paternity.source) == (None, None)
    assert (result.parental.days_per_year, result.parental.until_age, result.parental.source) == (
        None,
        None,
        None,
    )
    assert result.confidence is Confidence.UNKNOWN
    assert {"provincial-addition-unknown", "paternity-unknown", "parental-unknown"} <= set(result.note_codes)
    assert "12320" in next(n.text for n in result.notes if n.code == "provincial-addition-unknown")
    difficult = plan(name, difficult=True, babies=2)
    assert difficult.maternity.total_days == 98 + 15 + 15


def test_xinjiang_parental_leave_is_unknown() -> None:
    result = plan("新疆")
    assert result.parental.days_per_year is None
    assert result.parental.source is None
    assert "parental-unknown" in result.note_codes


def test_start_may_be_up_to_15_days_before_the_birth() -> None:
    start = BIRTH - timedelta(days=15)
    result = plan("浙江", start=start)
    assert result.maternity.start == start
    assert result.maternity.end == start + timedelta(days=157)
    assert result.maternity.earliest_start == start


@pytest.mark.parametrize("offset", [-16, 1, 30])
def test_start_outside_the_allowed_days_is_refused(offset: int) -> None:
    with pytest.raises(InvalidStartDate) as caught:
        plan("浙江", start=BIRTH + timedelta(days=offset))
    assert caught.value.details()["earliest"] == (BIRTH - timedelta(days=15)).isoformat()


@pytest.mark.parametrize(("months", "days"), [(0, 15), (3, 15), (4, 42), (9, 42)])
def test_miscarriage_leave(months: int, days: int) -> None:
    result = miscarriage_leave(months, TABLE)
    assert result.days == days
    assert result.source.number == NATIONAL_NUMBER


# --------------------------------------------------------------------------- to_dict


def test_to_dict_has_exactly_the_agreed_shape() -> None:
    data = plan("福建", difficult=True).to_dict()
    assert set(data) == {
        "province",
        "maternity",
        "paternity",
        "parental",
        "confidence",
        "notes",
        "unverified",
    }
    assert set(data["maternity"]) == {"total_days", "total_days_max", "start", "end", "breakdown"}
    assert set(data["paternity"]) == {"days", "source"}
    assert set(data["parental"]) == {"days_per_year", "until_age", "source"}
    for part in data["maternity"]["breakdown"]:
        assert set(part) == {"days", "reason", "reason_text", "source"}
        assert {"document", "number", "effective", "confidence"} <= set(part["source"])
    assert data["province"] == "福建"
    assert data["maternity"]["start"] == "2026-03-05"
    assert data["maternity"]["end"] == "2026-08-24"
    assert all(isinstance(note, str) for note in data["notes"])
    assert data["confidence"] == "MEMORY"
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data


def test_to_dict_of_an_unknown_region() -> None:
    data = plan("西藏").to_dict()
    assert data["paternity"] == {"days": None, "source": None}
    assert data["parental"] == {"days_per_year": None, "until_age": None, "source": None}
    assert data["confidence"] == "UNKNOWN"


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("浙江", "浙江"),
        ("浙江省", "浙江"),
        ("Zhejiang", "浙江"),
        ("ZHEJIANG province", "浙江"),
        ("浙", "浙江"),
        ("  浙江省 ", "浙江"),
        ("廣東", "广东"),
        ("廣東省", "广东"),
        ("陝西", "陕西"),
        ("Shaanxi", "陕西"),
        ("shanxi", "山西"),
        ("遼寧", "辽宁"),
        ("黑龍江", "黑龙江"),
        ("雲南", "云南"),
        ("貴州", "贵州"),
        ("甘肅", "甘肃"),
        ("寧夏", "宁夏"),
        ("宁夏回族自治区", "宁夏"),
        ("新疆維吾爾自治區", "新疆"),
        ("内蒙古自治区", "内蒙古"),
        ("內蒙古", "内蒙古"),
        ("Inner Mongolia", "内蒙古"),
        ("廣西壯族自治區", "广西"),
        ("Guangxi Zhuang Autonomous Region", "广西"),
        ("Tibet", "西藏"),
        ("北京市", "北京"),
        ("重慶", "重庆"),
        ("ｂｅｉｊｉｎｇ", "北京"),
        ("浙江省杭州市", "浙江"),
        ("厦门", "福建"),
        ("Xi'an", "陕西"),
    ],
)
def test_resolve_province(text: str, expected: str) -> None:
    assert resolve_province(text, TABLE).name == expected


def test_every_alias_resolves_to_its_own_region() -> None:
    for province in TABLE:
        for alias in (province.name, province.full_name, *province.aliases):
            assert resolve_province(alias, TABLE).id == province.id


def test_aliases_include_traditional_forms() -> None:
    for traditional in (
        "廣東",
        "陝西",
        "遼寧",
        "黑龍江",
        "雲南",
        "貴州",
        "甘肅",
        "寧夏",
        "新疆維吾爾自治區",
        "廣西壯族自治區",
    ):
        assert any(traditional in p.aliases for p in TABLE), traditional


@pytest.mark.parametrize(
    ("text", "suggestion"), [("浙将", "浙江"), ("Guangdon", "广东"), ("Sichaun", "四川")]
)
def test_unknown_province_suggests_close_names(text: str, suggestion: str) -> None:
    with pytest.raises(UnknownProvince) as caught:
        resolve_province(text, TABLE)
    assert suggestion in caught.value.suggestions
    assert caught.value.details()["name"] == text


@pytest.mark.parametrize("text", ["", "   ", "香港", "Atlantis"])
def test_unknown_province(text: str) -> None:
    with pytest.raises(UnknownProvince) as caught:
        plan_leave(text, BIRTH, table=TABLE)
    assert isinstance(caught.value, LeaveInputError)
    assert isinstance(caught.value, ValueError)


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("babies", [0, -1, 9, True])
def test_invalid_babies(babies: int) -> None:
    with pytest.raises(InvalidBabies) as caught:
        plan("浙江", babies=babies)
    assert (caught.value.minimum, caught.value.maximum) == (1, 8)
    assert caught.value.code == "invalid-babies"


@pytest.mark.parametrize("child_order", [0, 11, -2])
def test_invalid_child_order(child_order: int) -> None:
    with pytest.raises(InvalidChildOrder) as caught:
        plan("浙江", child_order=child_order)
    assert caught.value.details() == {"child_order": child_order, "minimum": 1, "maximum": 10}


@pytest.mark.parametrize("months", [-1, 11])
def test_invalid_pregnancy_months(months: int) -> None:
    with pytest.raises(InvalidPregnancyMonths):
        miscarriage_leave(months, TABLE)


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-05",
        "2026/3/5",
        "2026.3.5",
        "2026年3月5日",
        "2026年3月5号",
        "20260305",
        " 2026-3-5 ",
        "２０２６－０３－０５",
    ],
)
def test_parse_date(text: str) -> None:
    assert parse_date(text) == date(2026, 3, 5)


@pytest.mark.parametrize(
    "text", ["", "tomorrow", "2026-02-30", "2026-13-01", "2026-3/5", "202603051", "3/5/2026", "2026年3月"]
)
def test_parse_date_refuses(text: str) -> None:
    with pytest.raises(InvalidDate) as caught:
        parse_date(text)
    assert caught.value.details() == {"text": text}


@pytest.mark.parametrize(
    ("birth_date", "ok"),
    [
        (date(2027, 11, 22), True),
        (date(2027, 11, 23), False),
        (date(2020, 11, 22), True),
        (date(2020, 11, 21), False),
        (date(2026, 11, 22), True),
    ],
)
def test_validate_birth_date(birth_date: date, ok: bool) -> None:
    today = date(2026, 11, 22)
    if ok:
        validate_birth_date(birth_date, today)
    else:
        with pytest.raises(BirthDateOutOfRange) as caught:
            validate_birth_date(birth_date, today)
        assert caught.value.details()["latest"] == "2027-11-22"
        assert caught.value.details()["earliest"] == "2020-11-22"


def test_validate_birth_date_on_29_february() -> None:
    validate_birth_date(date(2025, 2, 28), date(2024, 2, 29))
    with pytest.raises(BirthDateOutOfRange):
        validate_birth_date(date(2025, 3, 1), date(2024, 2, 29))


def test_error_codes_are_distinct_and_details_json_friendly() -> None:
    errors: list[LeaveInputError] = [
        UnknownProvince("x", ["浙江"]),
        InvalidDate("x"),
        BirthDateOutOfRange(BIRTH, BIRTH, BIRTH, BIRTH),
        InvalidStartDate(BIRTH, BIRTH, BIRTH, BIRTH),
        InvalidBabies(0, 1, 8),
        InvalidChildOrder(0, 1, 10),
        InvalidPregnancyMonths(-1, 0, 10),
    ]
    assert len({e.code for e in errors}) == len(errors)
    for error in errors:
        json.dumps(error.details())


# --------------------------------------------------------------------------- the data file


def test_bad_policy_data_is_refused(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[1] / "knowledge" / "data" / "leave_policy.yaml"
    good = source.read_text(encoding="utf-8")
    assert len(load_policy(source)) == 31

    duplicate = tmp_path / "duplicate.yaml"
    duplicate.write_text(good.replace("as_of:", "schema_version: 1\nas_of:", 1), encoding="utf-8")
    with pytest.raises(PolicyDataError, match="duplicate key"):
        load_policy(duplicate)

    unknown_with_figure = tmp_path / "unknown.yaml"
    unknown_with_figure.write_text(
        good.replace("{total_days: null, confidence: UNKNOWN", "{total_days: 158, confidence: UNKNOWN", 1),
        encoding="utf-8",
    )
    with pytest.raises(PolicyDataError, match="UNKNOWN"):
        load_policy(unknown_with_figure)

    bad_confidence = tmp_path / "confidence.yaml"
    bad_confidence.write_text(good.replace("confidence: MEMORY", "confidence: MAYBE", 1), encoding="utf-8")
    with pytest.raises(PolicyDataError, match="confidence"):
        load_policy(bad_confidence)


def test_leave_module_does_not_import_telegram() -> None:
    source = Path(__file__).resolve().parents[1] / "knowledge" / "leave.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = [
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "telegram"]


# --------------------------------------------------------------------------- properties

PROVINCES = st.sampled_from(sorted(FACTS_ROWS))
BIRTH_DATES = st.dates(min_value=date(2020, 1, 1), max_value=date(2031, 12, 31))
CHILD_ORDERS = st.integers(min_value=1, max_value=10)
PROPERTY_SETTINGS = settings(database=None, deadline=None, max_examples=150)


@PROPERTY_SETTINGS
@given(PROVINCES, BIRTH_DATES, CHILD_ORDERS, st.integers(min_value=1, max_value=7), st.booleans())
def test_more_babies_never_fewer_days(
    name: str, birth_date: date, child_order: int, babies: int, difficult: bool
) -> None:
    fewer = plan_leave(name, birth_date, child_order, babies, difficult, table=TABLE)
    more = plan_leave(name, birth_date, child_order, babies + 1, difficult, table=TABLE)
    assert more.maternity.total_days >= fewer.maternity.total_days


@PROPERTY_SETTINGS
@given(PROVINCES, BIRTH_DATES, CHILD_ORDERS, st.integers(min_value=1, max_value=8))
def test_difficult_birth_never_fewer_days(name: str, birth_date: date, child_order: int, babies: int) -> None:
    easy = plan_leave(name, birth_date, child_order, babies, False, table=TABLE)
    hard = plan_leave(name, birth_date, child_order, babies, True, table=TABLE)
    assert hard.maternity.total_days > easy.maternity.total_days


@PROPERTY_SETTINGS
@given(
    PROVINCES,
    BIRTH_DATES,
    CHILD_ORDERS,
    st.integers(min_value=1, max_value=8),
    st.booleans(),
    st.integers(min_value=0, max_value=15),
)
def test_plan_invariants(
    name: str, birth_date: date, child_order: int, babies: int, difficult: bool, early: int
) -> None:
    start = birth_date - timedelta(days=early)
    result = plan_leave(name, birth_date, child_order, babies, difficult, start=start, table=TABLE)
    maternity = result.maternity
    assert maternity.start == start
    assert maternity.end == start + timedelta(days=maternity.total_days - 1)
    assert maternity.total_days == sum(part.days for part in maternity.breakdown)
    assert maternity.total_days >= 98
    if maternity.total_days_max is not None:
        assert maternity.total_days_max > maternity.total_days
    for part in maternity.breakdown:
        assert part.source.document or part.source.number
    for figure, source, label in (
        (result.paternity.days, result.paternity.source, PATERNITY),
        (result.parental.days_per_year, result.parental.source, PARENTAL),
    ):
        assert (figure is None) == (source is None)
        if source is None or source.confidence is not Confidence.FOUND:
            assert label in result.unverified
    expected = (
        Confidence.UNKNOWN
        if not result.province.known
        else (Confidence.MEMORY if result.unverified else Confidence.FOUND)
    )
    assert result.confidence is expected
    data = result.to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["notes"] == list(result.note_codes)


@PROPERTY_SETTINGS
@given(st.text(max_size=60))
def test_parse_leave_question_never_crashes(text: str) -> None:
    question = parse_leave_question(text, TABLE)
    if question is not None:
        assert question.kinds
        assert question.province in TABLE.provinces


@PROPERTY_SETTINGS
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_parse_date_reads_every_form(day: date) -> None:
    for text in (
        day.isoformat(),
        f"{day.year}/{day.month}/{day.day}",
        f"{day.year}年{day.month}月{day.day}日",
        day.strftime("%Y%m%d"),
    ):
        assert parse_date(text) == day


# --------------------------------------------------------------------------- free-text questions


@pytest.mark.parametrize(
    ("text", "province", "kind", "child_order", "babies", "difficult"),
    [
        ("我在浙江生二胎产假多少天", "浙江", LeaveKind.MATERNITY, 2, None, False),
        ("广东陪产假几天", "广东", LeaveKind.PATERNITY, None, None, False),
        ("廣東陪產假幾天", "广东", LeaveKind.PATERNITY, None, None, False),
        ("how long is maternity leave in Guangdong", "广东", LeaveKind.MATERNITY, None, None, False),
        ("What is paternity leave in Zhejiang for a 2nd child?", "浙江", LeaveKind.PATERNITY, 2, None, False),
        ("北京育儿假有几天", "北京", LeaveKind.PARENTAL, None, None, False),
        ("內蒙古自治區護理假多少天", "内蒙古", LeaveKind.PATERNITY, None, None, False),
        ("陕西第三个孩子产假多久", "陕西", LeaveKind.MATERNITY, 3, None, False),
        ("重慶三胎產假", "重庆", LeaveKind.MATERNITY, 3, None, False),
        ("頭胎在上海，產假怎麼算", "上海", LeaveKind.MATERNITY, 1, None, False),
        ("四川双胞胎难产，产假能休多久", "四川", LeaveKind.MATERNITY, None, 2, True),
        ("河北三胞胎产假", "河北", LeaveKind.MATERNITY, None, 3, False),
        ("河北雙胞胎難產產假", "河北", LeaveKind.MATERNITY, None, 2, True),
        ("twins maternity leave Sichuan", "四川", LeaveKind.MATERNITY, None, 2, False),
        ("Parental leave in Chongqing for my third child", "重庆", LeaveKind.PARENTAL, 3, None, False),
        ("Shaanxi maternity leave", "陕西", LeaveKind.MATERNITY, None, None, False),
        ("Shanxi maternity leave", "山西", LeaveKind.MATERNITY, None, None, False),
        ("Inner Mongolia paternity leave", "内蒙古", LeaveKind.PATERNITY, None, None, False),
        ("我在厦门，生育假有几天", "福建", LeaveKind.MATERNITY, None, None, False),
        ("浙江西湖区陪产假", "浙江", LeaveKind.PATERNITY, None, None, False),
        ("大宝3岁了，二宝在江苏出生，产假多少", "江苏", LeaveKind.MATERNITY, 2, None, False),
        ("广东不是难产，产假多少天", "广东", LeaveKind.MATERNITY, None, None, False),
        ("新疆育兒假", "新疆", LeaveKind.PARENTAL, None, None, False),
    ],
)
def test_parse_leave_question(
    text: str, province: str, kind: LeaveKind, child_order: int | None, babies: int | None, difficult: bool
) -> None:
    question = parse_leave_question(text, TABLE)
    assert question is not None
    assert question.province.name == province
    assert question.kind is kind
    assert question.child_order == child_order
    assert question.babies == babies
    assert question.difficult is difficult
    # Whatever is read must be something the calculator accepts.
    plan_leave(
        question.province,
        BIRTH,
        child_order=question.child_order or 1,
        babies=question.babies or 1,
        difficult=question.difficult,
        table=TABLE,
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "产假多少天",
        "how long is maternity leave?",
        "浙江有哪些托育机构",
        "新生儿陪产假",
        "黑色的护理假",
        "Shanxi weather tomorrow",
        "广东的疫苗接种时间",
        "hello",
    ],
)
def test_parse_leave_question_needs_a_region_and_a_kind_of_leave(text: str) -> None:
    assert parse_leave_question(text, TABLE) is None


def test_parse_leave_question_reads_several_kinds_in_order() -> None:
    question = parse_leave_question("浙江陪产假和产假各多少天", TABLE)
    assert question is not None
    assert question.kinds == (LeaveKind.PATERNITY, LeaveKind.MATERNITY)


def test_parse_leave_question_reads_a_due_date_and_caesarean() -> None:
    question = parse_leave_question("预产期2026年3月5日，广东剖宫产产假怎么算", TABLE)
    assert question is not None
    assert question.birth_date == date(2026, 3, 5)
    assert question.caesarean
    assert not question.difficult


def test_parse_leave_question_keeps_the_other_regions() -> None:
    question = parse_leave_question("我在浙江上班，老家河南，产假按哪里算", TABLE)
    assert question is not None
    assert question.province.name == "浙江"
    assert question.other_provinces == ("河南",)
