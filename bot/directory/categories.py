"""The directory's fixed vocabularies: age classes (班级) and the ages they take, legal forms (法人类型),
service types (服务类型), and the aliases a register written by people uses for each."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class AgeClass(StrEnum):
    """A nursery class by age (托育机构设置标准（试行）, 国卫人口发〔2019〕58号)."""

    INFANT = "infant"  # 乳儿班 6-12 months, at most 10 children a class
    TODDLER = "toddler"  # 托小班 12-24 months, at most 15
    OLDER = "older"  # 托大班 24-36 months, at most 20
    MIXED = "mixed"  # 混合班 18 months and older, at most 18


@dataclass(frozen=True, slots=True)
class AgeRange:
    """Months of age a class takes, as a half-open range [min_months, max_months)."""

    min_months: int
    max_months: int

    def __contains__(self, age_months: object) -> bool:
        return isinstance(age_months, int) and self.min_months <= age_months < self.max_months


# Half-open so a child on a class's upper birthday (12, 24 months) belongs to the next class only; the
# mixed class takes 18 months until the child leaves for kindergarten at 36.
AGE_RANGES: dict[AgeClass, AgeRange] = {
    AgeClass.INFANT: AgeRange(6, 12),
    AgeClass.TODDLER: AgeRange(12, 24),
    AgeClass.OLDER: AgeRange(24, 36),
    AgeClass.MIXED: AgeRange(18, 36),
}

AGE_CLASS_LABELS_ZH: dict[AgeClass, str] = {
    AgeClass.INFANT: "乳儿班",
    AgeClass.TODDLER: "托小班",
    AgeClass.OLDER: "托大班",
    AgeClass.MIXED: "混合班",
}

_AGE_CLASS_ALIASES: dict[str, AgeClass] = {
    **{c.value: c for c in AgeClass},
    **{label: c for c, label in AGE_CLASS_LABELS_ZH.items()},
    "混龄班": AgeClass.MIXED,
    "混合编班": AgeClass.MIXED,
}


def classes_for_age(age_months: int) -> tuple[AgeClass, ...]:
    """The classes that take a child of this age, in AgeClass order; empty under 6 or from 36 months."""
    if age_months < 0:
        raise ValueError("age in months must not be negative")
    return tuple(c for c in AgeClass if age_months in AGE_RANGES[c])


def age_in_months(birth_month: date, today: date) -> int:
    """Whole calendar months from a birth month to today (the day of either is ignored).

    Only the birth month is kept about a child (PIPL: the minimum), so a child born in March is 0 in
    March and 1 in April; within a month this can overstate the age by up to one month.
    """
    months = (today.year - birth_month.year) * 12 + today.month - birth_month.month
    if months < 0:
        raise ValueError("birth month is in the future")
    return months


def parse_age_class(raw: str | AgeClass) -> AgeClass:
    if isinstance(raw, AgeClass):
        return raw
    try:
        return _AGE_CLASS_ALIASES[_fold(raw)]
    except KeyError:
        raise ValueError(f"unknown class {raw!r}") from None


class LegalForm(StrEnum):
    """How a nursery is registered (托育机构登记和备案办法（试行）): its legal person or the host body."""

    ENTERPRISE = "enterprise"  # 企业, registered with 市场监管
    PRIVATE_NON_ENTERPRISE = "private_non_enterprise"  # 民办非企业单位 (社会服务机构), with 民政
    PUBLIC_INSTITUTION = "public_institution"  # 事业单位, with 机构编制
    INDIVIDUAL_BUSINESS = "individual_business"  # 个体工商户
    HOME_BASED = "home_based"  # 家庭托育点, at most 5 children
    KINDERGARTEN_CLASS = "kindergarten_class"  # 幼儿园托班, a nursery class run by a kindergarten
    EMPLOYER = "employer"  # 用人单位办托, a workplace nursery of a company or agency
    OTHER = "other"


LEGAL_FORM_LABELS_ZH: dict[LegalForm, str] = {
    LegalForm.ENTERPRISE: "企业",
    LegalForm.PRIVATE_NON_ENTERPRISE: "民办非企业",
    LegalForm.PUBLIC_INSTITUTION: "事业单位",
    LegalForm.INDIVIDUAL_BUSINESS: "个体工商户",
    LegalForm.HOME_BASED: "家庭托育点",
    LegalForm.KINDERGARTEN_CLASS: "幼儿园托班",
    LegalForm.EMPLOYER: "用人单位办托",
    LegalForm.OTHER: "其他",
}

_LEGAL_FORM_ALIASES: dict[str, LegalForm] = {
    **{f.value: f for f in LegalForm},
    **{label: f for f, label in LEGAL_FORM_LABELS_ZH.items()},
    "企业法人": LegalForm.ENTERPRISE,
    "公司": LegalForm.ENTERPRISE,
    "有限公司": LegalForm.ENTERPRISE,
    "营利性": LegalForm.ENTERPRISE,
    "民办非企业单位": LegalForm.PRIVATE_NON_ENTERPRISE,
    "民非": LegalForm.PRIVATE_NON_ENTERPRISE,
    "社会服务机构": LegalForm.PRIVATE_NON_ENTERPRISE,
    "非营利性": LegalForm.PRIVATE_NON_ENTERPRISE,
    "事业单位法人": LegalForm.PUBLIC_INSTITUTION,
    "公办": LegalForm.PUBLIC_INSTITUTION,
    "个体": LegalForm.INDIVIDUAL_BUSINESS,
    "个体户": LegalForm.INDIVIDUAL_BUSINESS,
    "家庭托育": LegalForm.HOME_BASED,
    "家庭式托育点": LegalForm.HOME_BASED,
    "幼儿园": LegalForm.KINDERGARTEN_CLASS,
    "托幼一体": LegalForm.KINDERGARTEN_CLASS,
    "幼儿园开设托班": LegalForm.KINDERGARTEN_CLASS,
    "用人单位": LegalForm.EMPLOYER,
    "单位办托": LegalForm.EMPLOYER,
    "enterprise": LegalForm.ENTERPRISE,
    "company": LegalForm.ENTERPRISE,
    "non-profit": LegalForm.PRIVATE_NON_ENTERPRISE,
    "nonprofit": LegalForm.PRIVATE_NON_ENTERPRISE,
    "public": LegalForm.PUBLIC_INSTITUTION,
    "home": LegalForm.HOME_BASED,
    "kindergarten": LegalForm.KINDERGARTEN_CLASS,
}


def parse_legal_form(raw: str) -> LegalForm:
    try:
        return _LEGAL_FORM_ALIASES[_fold(raw)]
    except KeyError:
        raise ValueError(f"unknown legal form {raw!r}") from None


class ServiceType(StrEnum):
    """Kinds of care a nursery offers (托育机构管理规范（试行）)."""

    FULL_DAY = "full_day"  # 全日托
    HALF_DAY = "half_day"  # 半日托
    HOURLY = "hourly"  # 计时托
    TEMPORARY = "temporary"  # 临时托


SERVICE_LABELS_ZH: dict[ServiceType, str] = {
    ServiceType.FULL_DAY: "全日托",
    ServiceType.HALF_DAY: "半日托",
    ServiceType.HOURLY: "计时托",
    ServiceType.TEMPORARY: "临时托",
}

_SERVICE_ALIASES: dict[str, ServiceType] = {
    **{s.value: s for s in ServiceType},
    **{label: s for s, label in SERVICE_LABELS_ZH.items()},
    "全日": ServiceType.FULL_DAY,
    "全托": ServiceType.FULL_DAY,
    "全天": ServiceType.FULL_DAY,
    "full-day": ServiceType.FULL_DAY,
    "fullday": ServiceType.FULL_DAY,
    "半日": ServiceType.HALF_DAY,
    "半托": ServiceType.HALF_DAY,
    "半天": ServiceType.HALF_DAY,
    "half-day": ServiceType.HALF_DAY,
    "halfday": ServiceType.HALF_DAY,
    "计时": ServiceType.HOURLY,
    "小时托": ServiceType.HOURLY,
    "临时": ServiceType.TEMPORARY,
    "临托": ServiceType.TEMPORARY,
    "temp": ServiceType.TEMPORARY,
}

# Separators seen in hand-kept registers: ASCII and full-width commas, the enumeration comma, slashes.
_SERVICE_SEPARATORS = ",，、;；/|+ \t"


def parse_service(raw: str | ServiceType) -> ServiceType:
    if isinstance(raw, ServiceType):
        return raw
    try:
        return _SERVICE_ALIASES[_fold(raw)]
    except KeyError:
        raise ValueError(f"unknown service type {raw!r}") from None


def parse_services(raw: str) -> frozenset[ServiceType]:
    """A list of services in one cell ("全日托、半日托", "full_day,hourly"); raises on an unknown one."""
    text = raw
    for sep in _SERVICE_SEPARATORS[1:]:
        text = text.replace(sep, _SERVICE_SEPARATORS[0])
    found = set()
    unknown = []
    for part in text.split(_SERVICE_SEPARATORS[0]):
        if not part.strip():
            continue
        try:
            found.add(parse_service(part))
        except ValueError:
            unknown.append(part.strip())
    if unknown:
        raise ValueError(f"unknown service type {', '.join(repr(u) for u in unknown)}")
    return frozenset(found)


def format_services(services: frozenset[ServiceType] | set[ServiceType], *, chinese: bool) -> str:
    ordered = [s for s in ServiceType if s in services]
    if chinese:
        return "、".join(SERVICE_LABELS_ZH[s] for s in ordered)
    return ",".join(s.value for s in ordered)


_YES = {"是", "有", "true", "t", "yes", "y", "1", "√", "✓", "普惠"}
_NO = {"否", "无", "false", "f", "no", "n", "0", "×", "非普惠", "不是"}


def parse_yes_no(raw: str) -> bool:
    """是/否, true/false, 1/0, y/n (any case); raises ValueError on anything else."""
    key = _fold(raw)
    if key in _YES:
        return True
    if key in _NO:
        return False
    raise ValueError(f"not a yes/no value: {raw!r}")


def _fold(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower().replace(" ", "")
