"""Unit tests of the directory's vocabularies: age classes and the ages they take, legal forms, services,
yes/no cells; and of name folding for the filing lookup and the claim-code alphabet."""

from __future__ import annotations

from datetime import date

import pytest

from bot.directory import codes
from bot.directory.categories import (
    AgeClass,
    LegalForm,
    ServiceType,
    age_in_months,
    classes_for_age,
    parse_age_class,
    parse_legal_form,
    parse_services,
    parse_yes_no,
)
from bot.directory.names import distinctive_bigrams, match_score, name_key, strip_question

INF, TOD, OLD, MIX = AgeClass.INFANT, AgeClass.TODDLER, AgeClass.OLDER, AgeClass.MIXED


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0, ()),
        (5, ()),
        (6, (INF,)),
        (11, (INF,)),
        (12, (TOD,)),
        (17, (TOD,)),
        (18, (TOD, MIX)),
        (23, (TOD, MIX)),
        (24, (OLD, MIX)),
        (35, (OLD, MIX)),
        (36, ()),
        (48, ()),
    ],
)
def test_classes_for_age(age: int, expected: tuple[AgeClass, ...]) -> None:
    assert classes_for_age(age) == expected


def test_age_in_months_counts_calendar_months() -> None:
    assert age_in_months(date(2025, 3, 1), date(2025, 3, 31)) == 0
    assert age_in_months(date(2025, 3, 1), date(2025, 4, 1)) == 1
    assert age_in_months(date(2024, 11, 1), date(2026, 11, 23)) == 24
    with pytest.raises(ValueError, match="future"):
        age_in_months(date(2027, 1, 1), date(2026, 11, 23))


def test_negative_age_is_an_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        classes_for_age(-1)


def test_class_names() -> None:
    assert parse_age_class("乳儿班") is INF
    assert parse_age_class("混龄班") is MIX
    assert parse_age_class("older") is OLD
    with pytest.raises(ValueError, match="unknown class"):
        parse_age_class("大班")


@pytest.mark.parametrize(
    ("raw", "form"),
    [
        ("企业", LegalForm.ENTERPRISE),
        ("民办非企业", LegalForm.PRIVATE_NON_ENTERPRISE),
        ("民办非企业单位", LegalForm.PRIVATE_NON_ENTERPRISE),
        ("事业单位", LegalForm.PUBLIC_INSTITUTION),
        ("家庭托育点", LegalForm.HOME_BASED),
        ("幼儿园托班", LegalForm.KINDERGARTEN_CLASS),
        ("kindergarten_class", LegalForm.KINDERGARTEN_CLASS),
        (" Enterprise ", LegalForm.ENTERPRISE),
    ],
)
def test_legal_forms(raw: str, form: LegalForm) -> None:
    assert parse_legal_form(raw) is form


def test_unknown_legal_form() -> None:
    with pytest.raises(ValueError, match="unknown legal form"):
        parse_legal_form("合伙")


def test_services() -> None:
    assert parse_services("全日托、半日托") == {ServiceType.FULL_DAY, ServiceType.HALF_DAY}
    assert parse_services("full_day,hourly；临时托") == {
        ServiceType.FULL_DAY,
        ServiceType.HOURLY,
        ServiceType.TEMPORARY,
    }
    assert parse_services("") == frozenset()
    with pytest.raises(ValueError, match="'夜托'"):
        parse_services("全日托,夜托")


@pytest.mark.parametrize("raw", ["是", "true", "TRUE", "1", "y", "Y", "yes"])
def test_yes(raw: str) -> None:
    assert parse_yes_no(raw) is True


@pytest.mark.parametrize("raw", ["否", "false", "0", "n", "No"])
def test_no(raw: str) -> None:
    assert parse_yes_no(raw) is False


def test_neither_yes_nor_no() -> None:
    with pytest.raises(ValueError, match="yes/no"):
        parse_yes_no("maybe")


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("小树苗托育园备案了吗？", "小树苗托育园"),
        ("/check 小树苗托育园", "小树苗托育园"),
        ("/check@CareBot 小树苗", "小树苗"),
        ("請問彩虹托育中心備案了嗎", "彩虹托育中心"),
        ("查一下向日葵托育园是否备案", "向日葵托育园"),
        ("向日葵托育园有没有备案", "向日葵托育园"),
        ("想象力托育园备案了吗", "想象力托育园"),
        ("帮我查一下查理宝贝托育中心是不是正规的", "查理宝贝托育中心"),
        ("备案托育园", "备案托育园"),
    ],
)
def test_question_to_name(question: str, name: str) -> None:
    assert strip_question(question) == name


def test_name_key_folds_script_width_and_punctuation() -> None:
    assert name_key("小樹苗 托育園（示例）") == name_key("小树苗托育园(示例)") == "小树苗托育园示例"
    assert name_key("ＡＢＣ Baby") == "abcbaby"


def test_match_scores_rank_sensibly() -> None:
    target = name_key("厦门市思明区小树苗托育园（示例）")
    exact = match_score(target, target)
    contained = match_score(name_key("小树苗"), target)
    wrong_suffix = match_score(name_key("小树苗托育中心"), target)
    unrelated = match_score(name_key("彩虹托育"), target)
    assert exact == 1.0 > contained > wrong_suffix > 0.35 > unrelated
    assert "托育" not in distinctive_bigrams(name_key("小树苗托育园"))


def test_claim_codes_are_typable() -> None:
    seen = {codes.new_code() for _ in range(2000)}
    assert len(seen) == 2000
    for code in list(seen)[:50]:
        assert len(code) == codes.LENGTH and set(code) <= set(codes.ALPHABET)
        printed = codes.format_code(code)
        assert codes.normalize_code(printed) == code
        assert codes.normalize_code(printed.lower().replace("-", " ")) == code
    assert not set("01IO") & set(codes.ALPHABET)
    assert codes.normalize_code("ABCD-EFG") is None
    assert codes.normalize_code("ABCD-EFG0") is None
    assert codes.digest("ABCDEFGH") != codes.digest("ABCDEFGJ")
    assert len(codes.digest("ABCDEFGH")) == 64
