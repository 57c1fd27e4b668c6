"""The city's childcare figures for the commission: places per 1,000 residents against the 4.5 target,
the 普惠 share, the filing rate against the 70% target, free places, and what people asked in vain.
"""

from __future__ import annotations

import dataclasses

from bot.answers import AnswerService
from bot.directory import repository
from bot.directory.records import DistrictFigures
from bot.i18n import in_script, normalize_locale, translator
from bot.settings import Settings
from bot.storage.db import Database

# 国卫人口发〔2021〕17号 and the Fujian plan: 4.5 places per 1,000 residents by 2025.
PLACES_PER_THOUSAND_TARGET = 4.5
# 福建省示范城市创建方案: at least 70% of nurseries filed (备案).
FILING_RATE_TARGET = 0.70
UNANSWERED_SHOWN = 10


@dataclasses.dataclass(frozen=True)
class CityFigures:
    districts: list[DistrictFigures]
    population: int | None
    includes_sample: bool

    @property
    def institutions(self) -> int:
        return sum(d.institutions for d in self.districts)

    @property
    def places(self) -> int:
        return sum(d.places for d in self.districts)

    @property
    def inclusive_places(self) -> int:
        return sum(d.inclusive_places for d in self.districts)

    @property
    def filed(self) -> int:
        return sum(d.filed_institutions for d in self.districts)

    @property
    def free_places(self) -> int:
        return sum(d.free_places for d in self.districts)

    @property
    def places_per_thousand(self) -> float | None:
        return self.places * 1000 / self.population if self.population else None

    @property
    def filing_rate(self) -> float | None:
        return self.filed / self.institutions if self.institutions else None

    @property
    def inclusive_share(self) -> float | None:
        return self.inclusive_places / self.places if self.places else None


async def city_figures(db: Database, settings: Settings) -> CityFigures:
    with_sample = await repository.district_figures(db, include_sample=True)
    without = await repository.district_figures(db, include_sample=False)
    includes_sample = sum(d.institutions for d in with_sample) != sum(d.institutions for d in without)
    return CityFigures(with_sample, settings.population, includes_sample)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def render_figures(figures: CityFigures, locale: str, city: str, unanswered: list[str]) -> str:
    locale = normalize_locale(locale)
    _ = translator(locale)
    lines = [_("Childcare figures for {city}", city=city), ""]
    if figures.places_per_thousand is None:
        lines.append(
            _(
                "Places per 1,000 residents: set CAREBOT_POPULATION to the resident population to see it (target {target}).",
                target=PLACES_PER_THOUSAND_TARGET,
            )
        )
    else:
        lines.append(
            _(
                "Places per 1,000 residents: {value:.2f} (target {target})",
                value=figures.places_per_thousand,
                target=PLACES_PER_THOUSAND_TARGET,
            )
        )
    lines.append(
        _(
            "Nurseries: {n}; places: {places}; free places reported: {free}",
            n=figures.institutions,
            places=figures.places,
            free=figures.free_places,
        )
    )
    lines.append(_("普惠 share of places: {share}", share=_pct(figures.inclusive_share)))
    lines.append(
        _(
            "Filed (备案): {filed} of {n}, {rate} (target {target})",
            filed=figures.filed,
            n=figures.institutions,
            rate=_pct(figures.filing_rate),
            target=_pct(FILING_RATE_TARGET),
        )
    )
    if figures.districts:
        lines.append("")
        lines.append(_("By district:"))
        for d in figures.districts:
            rate = _pct(d.filed_institutions / d.institutions if d.institutions else None)
            lines.append(
                _(
                    "• {district}: {n} nurseries, {places} places ({inclusive} 普惠), filed {rate}, free {free}",
                    district=d.district or "?",
                    n=d.institutions,
                    places=d.places,
                    inclusive=d.inclusive_places,
                    rate=rate,
                    free=d.free_places,
                )
            )
    if figures.includes_sample:
        lines += ["", _("⚠️ These figures include the bundled sample data.")]
    lines.append("")
    if unanswered:
        lines.append(_("Latest questions I could not answer:"))
        lines += [f"• {q}" for q in unanswered]
    else:
        lines.append(_("No unanswered questions recorded."))
    text = "\n".join(lines)
    return in_script(text, locale)


async def commission_report(answers: AnswerService, db: Database, settings: Settings, locale: str) -> str:
    figures = await city_figures(db, settings)
    unanswered = [q.text[:120] for q in await answers.unanswered(UNANSWERED_SHOWN)]
    return render_figures(figures, locale, settings.city, unanswered)
