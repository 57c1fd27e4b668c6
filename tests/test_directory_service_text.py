"""Wording of the directory replies: class labels in the reader's script, the name in a failed filing
look-up, how long ago free places were updated and the inclusive (普惠) badge."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.directory.categories import AgeClass
from bot.directory.records import ClassPlaces, NearbyResult
from bot.directory.service import NearbyPage, class_label
from bot.i18n import EN, ZH_HANS, ZH_HANT
from bot.services import Services


def _result(updated_at: dt.datetime | None, *, inclusive: bool = False) -> NearbyResult:
    return NearbyResult(
        institution_id=1,
        name="小树苗托育园",
        distance_m=850.0,
        lat=24.48,
        lon=118.09,
        district="思明区",
        address=None,
        phone=None,
        inclusive=inclusive,
        legal_form=None,
        services=frozenset(),
        fee_min=None,
        fee_max=None,
        filed=True,
        classes=(ClassPlaces(AgeClass.INFANT, 10, 2),),
        free_places=2,
        vacancies_updated_at=updated_at,
        is_sample=False,
    )


def test_class_label_in_the_readers_script() -> None:
    assert class_label(AgeClass.INFANT, ZH_HANS) == "乳儿班"
    assert class_label(AgeClass.INFANT, ZH_HANT) == "乳兒班"
    assert class_label(AgeClass.INFANT, EN) == "infant class (6-12 months)"


def test_nearby_uses_the_class_label(services: Services) -> None:
    now = services.clock.now()
    page = NearbyPage([_result(now)], 0, False)
    for locale in (ZH_HANS, ZH_HANT, EN):
        assert class_label(AgeClass.INFANT, locale) in services.directory.render_nearby(
            page, locale, age_months=None
        )


def test_failed_filing_lookup_names_the_nursery_not_the_question(services: Services) -> None:
    text = services.directory.render_filing([], "小树苗托育园备案了吗？", ZH_HANS)
    assert "“小树苗托育园”" in text
    assert "备案了吗" not in text.split("”")[0]
    long_name = "小" * 60 + "托育园备案了吗"
    text = services.directory.render_filing([], long_name, EN)
    assert "“" + "小" * 40 + "”" in text


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, "updated today"), (1, "updated yesterday"), (2, "updated 2 days ago"), (45, "updated 45 days ago")],
)
def test_updated_wording(services: Services, days: int, expected: str) -> None:
    now = services.clock.now()
    page = NearbyPage([_result(now - dt.timedelta(days=days, hours=1))], 0, False)
    text = services.directory.render_nearby(page, EN, age_months=None)
    assert expected in text
    assert "1 days" not in text


def test_inclusive_badge_is_translated_for_english_readers(services: Services) -> None:
    page = NearbyPage([_result(None, inclusive=True)], 0, False)
    text = services.directory.render_nearby(page, EN, age_months=None)
    assert "【普惠】" not in text
    assert "Inclusive" in text
    plain = services.directory.render_nearby(NearbyPage([_result(None)], 0, False), EN, age_months=None)
    assert "Inclusive" not in plain
