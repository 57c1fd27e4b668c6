"""Leave calculator: maternity (产假), paternity (陪产假·护理假) and parental (育儿假) leave by province.
Loads the sourced provincial policy table, resolves region names and works out a family's leave plan."""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import yaml

from knowledge.text import to_simplified

__all__ = [
    "MAX_BABIES",
    "MAX_CHILD_ORDER",
    "BirthDateOutOfRange",
    "ChildOrderRule",
    "Confidence",
    "DifficultBirthRule",
    "InvalidBabies",
    "InvalidChildOrder",
    "InvalidDate",
    "InvalidPregnancyMonths",
    "InvalidStartDate",
    "LeaveInputError",
    "LeaveKind",
    "LeavePart",
    "LeavePlan",
    "LeavePolicyTable",
    "LeaveQuestion",
    "MaternityLeave",
    "MaternityVersion",
    "MiscarriageLeave",
    "NationalRule",
    "Note",
    "ParentalLeave",
    "ParentalRule",
    "PaternityLeave",
    "PaternityRule",
    "PolicyDataError",
    "Province",
    "ProvincialMaternity",
    "Source",
    "UnknownProvince",
    "load_policy",
    "miscarriage_leave",
    "parse_date",
    "parse_leave_question",
    "plan_leave",
    "resolve_province",
    "validate_birth_date",
]

DEFAULT_POLICY_PATH = Path(__file__).parent / "data" / "leave_policy.yaml"

MAX_BABIES = 8
MAX_CHILD_ORDER = 10
# Regulations since 2021 speak of the first, second and third child only; for a later child the table
# has nothing specific, so the plan says so instead of silently reusing the third child's rules.
HIGHEST_COVERED_CHILD_ORDER = 3
BIRTH_DATE_YEARS_AHEAD = 1
# Chongqing's 育儿假 runs until the child is 6, so a plan for a child that old must still be possible.
BIRTH_DATE_YEARS_BACK = 6


class Confidence(StrEnum):
    """How far a figure is verified (see shared/domain/FACTS.md)."""

    FOUND = "FOUND"
    MEMORY = "MEMORY"
    UNKNOWN = "UNKNOWN"


class LeaveKind(StrEnum):
    """The three kinds of leave the calculator knows."""

    MATERNITY = "maternity"  # 产假 / 生育假
    PATERNITY = "paternity"  # 陪产假 / 护理假
    PARENTAL = "parental"  # 育儿假


# --------------------------------------------------------------------------- errors


class LeaveInputError(ValueError):
    """A value from a user that the calculator cannot use; `code` and `details()` let a bot translate it."""

    code: ClassVar[str] = "invalid-leave-input"

    def details(self) -> dict[str, Any]:
        """Return the structured fields of the error, JSON-friendly."""
        return {}


class UnknownProvince(LeaveInputError):
    """The name is not one of the 31 provincial regions (省级行政区) in the table."""

    code = "unknown-province"

    def __init__(self, name: str, suggestions: Sequence[str] = ()) -> None:
        self.name = name
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown province {name!r}{hint}")

    def details(self) -> dict[str, Any]:
        """Return the name given and the suggested region names."""
        return {"name": self.name, "suggestions": list(self.suggestions)}


class InvalidDate(LeaveInputError):
    """Text that is not a calendar date in one of the accepted forms."""

    code = "invalid-date"

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"not a date: {text!r} (expected e.g. 2026-03-05, 2026/3/5, 2026年3月5日, 20260305)")

    def details(self) -> dict[str, Any]:
        """Return the text that failed to parse."""
        return {"text": self.text}


class BirthDateOutOfRange(LeaveInputError):
    """A birth (or due) date implausibly far from today."""

    code = "birth-date-out-of-range"

    def __init__(self, birth_date: date, today: date, earliest: date, latest: date) -> None:
        self.birth_date = birth_date
        self.today = today
        self.earliest = earliest
        self.latest = latest
        super().__init__(
            f"birth date {birth_date.isoformat()} is outside {earliest.isoformat()}..{latest.isoformat()}"
        )

    def details(self) -> dict[str, Any]:
        """Return the date and the accepted range as ISO strings."""
        return {
            "birth_date": self.birth_date.isoformat(),
            "today": self.today.isoformat(),
            "earliest": self.earliest.isoformat(),
            "latest": self.latest.isoformat(),
        }


class InvalidStartDate(LeaveInputError):
    """A maternity-leave start outside the days before the birth that the national rule allows."""

    code = "invalid-start-date"

    def __init__(self, start: date, birth_date: date, earliest: date, latest: date) -> None:
        self.start = start
        self.birth_date = birth_date
        self.earliest = earliest
        self.latest = latest
        super().__init__(
            f"maternity leave may start between {earliest.isoformat()} and {latest.isoformat()}, "
            f"not {start.isoformat()}"
        )

    def details(self) -> dict[str, Any]:
        """Return the start asked for and the allowed range as ISO strings."""
        return {
            "start": self.start.isoformat(),
            "birth_date": self.birth_date.isoformat(),
            "earliest": self.earliest.isoformat(),
            "latest": self.latest.isoformat(),
        }


class _OutOfRange(LeaveInputError):
    field_name: ClassVar[str] = "value"

    def __init__(self, value: object, minimum: int, maximum: int) -> None:
        self.value = value
        self.minimum = minimum
        self.maximum = maximum
        super().__init__(
            f"{self.field_name} must be a whole number from {minimum} to {maximum}, not {value!r}"
        )

    def details(self) -> dict[str, Any]:
        """Return the value given and the allowed range."""
        value = self.value if isinstance(self.value, int | str | None) else repr(self.value)
        return {self.field_name: value, "minimum": self.minimum, "maximum": self.maximum}


class InvalidBabies(_OutOfRange):
    """Number of babies born at once outside 1..MAX_BABIES."""

    code = "invalid-babies"
    field_name = "babies"


class InvalidChildOrder(_OutOfRange):
    """Child order (孩次) outside 1..MAX_CHILD_ORDER."""

    code = "invalid-child-order"
    field_name = "child_order"


class InvalidPregnancyMonths(_OutOfRange):
    """Completed months of pregnancy outside 0..10."""

    code = "invalid-pregnancy-months"
    field_name = "completed_months"


class PolicyDataError(ValueError):
    """The policy YAML is malformed: a data bug for maintainers, never a user's mistake."""


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Source:
    """Where a figure comes from: document, number, date it took effect, and how far it is verified."""

    document: str | None
    number: str | None
    effective: str | None  # YYYY-MM-DD, YYYY-MM or YYYY: some texts are only known by year
    confidence: Confidence
    effective_kind: str = "effective"  # effective | passed | amended | in_force
    confidence_detail: str | None = None  # low | weak
    as_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the source as JSON-friendly data."""
        return {
            "document": self.document,
            "number": self.number,
            "effective": self.effective,
            "effective_kind": self.effective_kind,
            "confidence": str(self.confidence),
            "confidence_detail": self.confidence_detail,
            "as_of": self.as_of,
        }


@dataclass(frozen=True)
class Note:
    """A remark attached to a plan: a stable code for software and a Simplified-Chinese text for people."""

    code: str
    text: str


@dataclass(frozen=True)
class NationalRule:
    """The national rule: 女职工劳动保护特别规定 (国务院令第619号), article 7."""

    maternity_days: int
    max_days_before_birth: int
    difficult_birth_days: int
    per_additional_baby_days: int
    miscarriage_before_4_months_days: int
    miscarriage_from_4_months_days: int
    source: Source


@dataclass(frozen=True)
class MaternityVersion:
    """A province's maternity total (national days included) for births from a given date on."""

    total_days: int
    total_days_max: int | None
    births_on_or_after: date | None
    source: Source


@dataclass(frozen=True)
class ChildOrderRule:
    """Extra maternity days for the first..last child (孩次); last None means no upper bound."""

    first: int
    last: int | None
    extra_days: int
    source: Source

    def applies_to(self, child_order: int) -> bool:
        """Tell whether this rule covers the given child order."""
        return self.first <= child_order and (self.last is None or child_order <= self.last)


@dataclass(frozen=True)
class DifficultBirthRule:
    """A province's own days for a difficult birth (难产), replacing the national figure."""

    days: int
    source: Source


@dataclass(frozen=True)
class ProvincialMaternity:
    """A province's maternity rules (产假)."""

    versions: tuple[MaternityVersion, ...]
    child_order: tuple[ChildOrderRule, ...] = ()
    difficult_birth: DifficultBirthRule | None = None

    def version_for(self, birth_date: date) -> MaternityVersion:
        """Return the version that applies to a child born on birth_date."""
        chosen = self.versions[0]
        for version in self.versions[1:]:
            if version.births_on_or_after is not None and birth_date >= version.births_on_or_after:
                chosen = version
        return chosen


@dataclass(frozen=True)
class PaternityRule:
    """Paternity / nursing leave (陪产假·护理假) days for the father."""

    days: int
    source: Source
    window_days: int | None = None


@dataclass(frozen=True)
class ParentalRule:
    """Parental leave (育儿假) days per parent per year until the child reaches until_age."""

    days_per_year: int
    until_age: int
    source: Source
    days_per_year_max: int | None = None
    working_days: bool = False


@dataclass(frozen=True)
class Province:
    """One provincial-level region (省、自治区、直辖市) and its leave rules; None where FACTS has no figure."""

    id: str
    name: str
    full_name: str
    aliases: tuple[str, ...]
    cities: tuple[str, ...]
    regulation: str | None
    maternity: ProvincialMaternity | None
    paternity: PaternityRule | None
    parental: ParentalRule | None
    notes: tuple[Note, ...] = ()

    @property
    def known(self) -> bool:
        """Tell whether the table has the province's own maternity figure."""
        return self.maternity is not None


@dataclass(frozen=True)
class LeavePolicyTable:
    """The national rule and the 31 provincial rows, with a name index for resolution."""

    national: NationalRule
    provinces: tuple[Province, ...]
    as_of: str | None
    _by_key: Mapping[str, Province] = field(init=False, repr=False, compare=False)
    _name_pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        by_key: dict[str, Province] = {}
        for province in self.provinces:
            for term in _terms_of(province):
                key = _key(term)
                for variant in {key, _strip_suffixes(key)}:
                    owner = by_key.setdefault(variant, province)
                    if owner.id != province.id:
                        raise PolicyDataError(f"name {term!r} belongs to both {owner.id} and {province.id}")
        object.__setattr__(self, "_by_key", by_key)

    def __iter__(self) -> Iterator[Province]:
        return iter(self.provinces)

    def __len__(self) -> int:
        return len(self.provinces)

    def get(self, province_id: str) -> Province:
        """Return the province with this id, or raise KeyError."""
        for province in self.provinces:
            if province.id == province_id:
                return province
        raise KeyError(province_id)

    def lookup(self, key: str) -> Province | None:
        """Return the province for an already normalised key, if any."""
        return self._by_key.get(key)

    @property
    def keys(self) -> Mapping[str, Province]:
        """Every normalised name the table recognises."""
        return self._by_key

    @property
    def name_pattern(self) -> re.Pattern[str]:
        """A regex finding region and city names in folded free text, compiled on first use."""
        if self._name_pattern is None:
            object.__setattr__(self, "_name_pattern", _alias_pattern(self))
        assert self._name_pattern is not None
        return self._name_pattern


def _terms_of(province: Province) -> tuple[str, ...]:
    return (province.id, province.name, province.full_name, *province.aliases, *province.cities)


# --------------------------------------------------------------------------- loading


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which PyYAML would otherwise let the last one win."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.Node) -> dict[Any, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise PolicyDataError(f"expected a mapping at line {node.start_mark.line + 1}")
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise PolicyDataError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}")
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)

_DATE_TEXT = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_NOTE_CODE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_EFFECTIVE_KINDS = frozenset({"effective", "passed", "amended", "in_force"})
_CONFIDENCE_DETAILS = frozenset({"low", "weak"})
_SOURCE_KEYS = frozenset(
    {"document", "number", "effective", "effective_kind", "confidence", "confidence_detail"}
)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyDataError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = set(raw) - allowed
    if extra:
        raise PolicyDataError(f"{where}: unknown keys {sorted(extra)}")


def _int(raw: Mapping[str, Any], key: str, where: str, *, minimum: int = 1) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PolicyDataError(f"{where}.{key}: expected a whole number >= {minimum}, got {value!r}")
    return value


def _optional_int(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    return None if raw.get(key) is None else _int(raw, key, where)


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PolicyDataError(f"{where}.{key}: expected text, got {value!r}")
    return value.strip()


def _optional_text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if raw.get(key) is None else _text(raw, key, where)


def _date_text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, date) else str(value)
    if not _DATE_TEXT.fullmatch(text):
        raise PolicyDataError(f"{where}: expected YYYY-MM-DD, YYYY-MM or YYYY, got {value!r}")
    if len(text) == 10:
        date.fromisoformat(text)
    return text


def _source(
    raw: Mapping[str, Any], where: str, *, document: str | None, number: str | None, as_of: str | None
) -> Source:
    value = raw.get("confidence")
    if value not in set(Confidence):
        raise PolicyDataError(f"{where}.confidence: expected FOUND, MEMORY or UNKNOWN, got {value!r}")
    confidence = Confidence(value)
    kind = raw.get("effective_kind", "effective")
    if kind not in _EFFECTIVE_KINDS:
        raise PolicyDataError(f"{where}.effective_kind: expected one of {sorted(_EFFECTIVE_KINDS)}")
    detail = raw.get("confidence_detail")
    if detail is not None and detail not in _CONFIDENCE_DETAILS:
        raise PolicyDataError(f"{where}.confidence_detail: expected one of {sorted(_CONFIDENCE_DETAILS)}")
    return Source(
        document=_optional_text(raw, "document", where) if "document" in raw else document,
        number=_optional_text(raw, "number", where) if "number" in raw else number,
        effective=_date_text(raw.get("effective"), f"{where}.effective"),
        confidence=confidence,
        effective_kind=kind,
        confidence_detail=detail,
        as_of=as_of,
    )


def _figure(
    value: Any, where: str, figure_keys: frozenset[str], regulation: str | None, as_of: str | None
) -> tuple[Mapping[str, Any], Source] | None:
    """Return (raw, source) for a known figure, None for an UNKNOWN one (whose numbers must be null)."""
    raw = _mapping(value, where)
    _check_keys(raw, figure_keys | _SOURCE_KEYS, where)
    source = _source(raw, where, document=regulation, number=None, as_of=as_of)
    if source.confidence is Confidence.UNKNOWN:
        filled = [key for key in figure_keys if raw.get(key) not in (None, False, [])]
        if filled:
            raise PolicyDataError(f"{where}: UNKNOWN figures must be null, but {sorted(filled)} are set")
        return None
    if source.document is None and source.number is None:
        raise PolicyDataError(f"{where}: a figure needs a document or a number")
    return raw, source


def _national(raw: Mapping[str, Any], as_of: str | None) -> NationalRule:
    where = "national"
    keys = frozenset(
        {
            "maternity_days",
            "max_days_before_birth",
            "difficult_birth_days",
            "per_additional_baby_days",
            "miscarriage",
        }
    )
    _check_keys(raw, keys | _SOURCE_KEYS, where)
    source = _source(raw, where, document=None, number=None, as_of=as_of)
    if source.confidence is not Confidence.FOUND:
        raise PolicyDataError(f"{where}: the national rule must be FOUND")
    miscarriage = _mapping(raw.get("miscarriage"), f"{where}.miscarriage")
    _check_keys(
        miscarriage, frozenset({"before_4_months_days", "from_4_months_days"}), f"{where}.miscarriage"
    )
    return NationalRule(
        maternity_days=_int(raw, "maternity_days", where),
        max_days_before_birth=_int(raw, "max_days_before_birth", where, minimum=0),
        difficult_birth_days=_int(raw, "difficult_birth_days", where),
        per_additional_baby_days=_int(raw, "per_additional_baby_days", where),
        miscarriage_before_4_months_days=_int(miscarriage, "before_4_months_days", f"{where}.miscarriage"),
        miscarriage_from_4_months_days=_int(miscarriage, "from_4_months_days", f"{where}.miscarriage"),
        source=source,
    )


def _maternity(
    value: Any, where: str, regulation: str | None, as_of: str | None, national: NationalRule
) -> ProvincialMaternity | None:
    keys = frozenset({"total_days", "total_days_max", "child_order", "difficult_birth", "from_birth_date"})
    figure = _figure(value, where, keys, regulation, as_of)
    if figure is None:
        return None
    raw, source = figure
    versions = [_version(raw, where, source, None, national)]
    for i, later_value in enumerate(raw.get("from_birth_date") or []):
        later_where = f"{where}.from_birth_date[{i}]"
        later = _figure(
            later_value,
            later_where,
            frozenset({"births_on_or_after", "total_days", "total_days_max"}),
            regulation,
            as_of,
        )
        if later is None:
            raise PolicyDataError(f"{later_where}: a dated version cannot be UNKNOWN")
        on_or_after = _date_text(later[0].get("births_on_or_after"), f"{later_where}.births_on_or_after")
        if on_or_after is None or len(on_or_after) != 10:
            raise PolicyDataError(f"{later_where}.births_on_or_after: expected YYYY-MM-DD")
        versions.append(_version(later[0], later_where, later[1], date.fromisoformat(on_or_after), national))
    starts = [v.births_on_or_after for v in versions[1:] if v.births_on_or_after is not None]
    if starts != sorted(starts):
        raise PolicyDataError(f"{where}.from_birth_date: list versions in date order")

    rules = []
    for i, rule_value in enumerate(raw.get("child_order") or []):
        rule_where = f"{where}.child_order[{i}]"
        rule = _figure(rule_value, rule_where, frozenset({"first", "last", "extra_days"}), regulation, as_of)
        if rule is None:
            raise PolicyDataError(f"{rule_where}: a child-order rule cannot be UNKNOWN")
        rule_raw, rule_source = rule
        first = _int(rule_raw, "first", rule_where, minimum=2)
        last = _optional_int(rule_raw, "last", rule_where)
        if last is not None and last < first:
            raise PolicyDataError(f"{rule_where}: last < first")
        rules.append(ChildOrderRule(first, last, _int(rule_raw, "extra_days", rule_where), rule_source))

    difficult = None
    if raw.get("difficult_birth") is not None:
        difficult_where = f"{where}.difficult_birth"
        found = _figure(raw["difficult_birth"], difficult_where, frozenset({"days"}), regulation, as_of)
        if found is None:
            raise PolicyDataError(f"{difficult_where}: omit the rule instead of marking it UNKNOWN")
        difficult = DifficultBirthRule(_int(found[0], "days", difficult_where), found[1])
    return ProvincialMaternity(tuple(versions), tuple(rules), difficult)


def _version(
    raw: Mapping[str, Any], where: str, source: Source, on_or_after: date | None, national: NationalRule
) -> MaternityVersion:
    total = _int(raw, "total_days", where, minimum=national.maternity_days)
    total_max = _optional_int(raw, "total_days_max", where)
    if total_max is not None and total_max <= total:
        raise PolicyDataError(f"{where}.total_days_max must be more than total_days")
    return MaternityVersion(total, total_max, on_or_after, source)


def _paternity(value: Any, where: str, regulation: str | None, as_of: str | None) -> PaternityRule | None:
    figure = _figure(value, where, frozenset({"days", "window_days"}), regulation, as_of)
    if figure is None:
        return None
    raw, source = figure
    return PaternityRule(_int(raw, "days", where), source, _optional_int(raw, "window_days", where))


def _parental(value: Any, where: str, regulation: str | None, as_of: str | None) -> ParentalRule | None:
    keys = frozenset({"days_per_year", "days_per_year_max", "until_age", "working_days"})
    figure = _figure(value, where, keys, regulation, as_of)
    if figure is None:
        return None
    raw, source = figure
    days = _int(raw, "days_per_year", where)
    days_max = _optional_int(raw, "days_per_year_max", where)
    if days_max is not None and days_max <= days:
        raise PolicyDataError(f"{where}.days_per_year_max must be more than days_per_year")
    working_days = raw.get("working_days", False)
    if not isinstance(working_days, bool):
        raise PolicyDataError(f"{where}.working_days: expected true or false")
    return ParentalRule(days, _int(raw, "until_age", where), source, days_max, working_days)


def _notes(value: Any, where: str) -> tuple[Note, ...]:
    notes = []
    for i, item in enumerate(value or []):
        raw = _mapping(item, f"{where}[{i}]")
        _check_keys(raw, frozenset({"code", "text"}), f"{where}[{i}]")
        code = _text(raw, "code", f"{where}[{i}]")
        if not _NOTE_CODE.fullmatch(code):
            raise PolicyDataError(f"{where}[{i}].code: use lowercase words joined by '-'")
        notes.append(Note(code, _text(raw, "text", f"{where}[{i}]")))
    return tuple(notes)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PolicyDataError(f"{where}: expected a list of names")
    return tuple(v.strip() for v in value)


_REGION_KEYS = frozenset(
    {
        "id",
        "name",
        "full_name",
        "aliases",
        "cities",
        "regulation",
        "maternity",
        "paternity",
        "parental",
        "notes",
    }
)


def _province(value: Any, index: int, as_of: str | None, national: NationalRule) -> Province:
    raw = _mapping(value, f"regions[{index}]")
    where = f"regions[{index}]"
    _check_keys(raw, _REGION_KEYS, where)
    region_id = _text(raw, "id", where)
    where = f"regions.{region_id}"
    missing = {"maternity", "paternity", "parental"} - set(raw)
    if missing:
        raise PolicyDataError(f"{where}: missing {sorted(missing)} (write confidence: UNKNOWN instead)")
    regulation = _optional_text(raw, "regulation", where)
    return Province(
        id=region_id,
        name=_text(raw, "name", where),
        full_name=_text(raw, "full_name", where),
        aliases=_names(raw.get("aliases"), f"{where}.aliases"),
        cities=_names(raw.get("cities"), f"{where}.cities"),
        regulation=regulation,
        maternity=_maternity(raw["maternity"], f"{where}.maternity", regulation, as_of, national),
        paternity=_paternity(raw["paternity"], f"{where}.paternity", regulation, as_of),
        parental=_parental(raw["parental"], f"{where}.parental", regulation, as_of),
        notes=_notes(raw.get("notes"), f"{where}.notes"),
    )


def _parse_table(text: str, origin: str) -> LeavePolicyTable:
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise PolicyDataError(f"{origin}: {exc}") from exc
    try:
        root = _mapping(data, "root")
        _check_keys(root, frozenset({"schema_version", "as_of", "national", "regions"}), "root")
        if root.get("schema_version") != 1:
            raise PolicyDataError("schema_version: expected 1")
        as_of = _date_text(root.get("as_of"), "as_of")
        national = _national(_mapping(root.get("national"), "national"), as_of)
        regions = root.get("regions")
        if not isinstance(regions, list) or not regions:
            raise PolicyDataError("regions: expected a non-empty list")
        provinces = tuple(_province(item, i, as_of, national) for i, item in enumerate(regions))
        ids = [p.id for p in provinces]
        if len(set(ids)) != len(ids):
            raise PolicyDataError("regions: duplicate id")
        return LeavePolicyTable(national, provinces, as_of)
    except PolicyDataError as exc:
        raise PolicyDataError(f"{origin}: {exc}") from None


@functools.cache
def _default_table() -> LeavePolicyTable:
    return _parse_table(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"), str(DEFAULT_POLICY_PATH))


def load_policy(path: str | Path | None = None) -> LeavePolicyTable:
    """Load the leave policy table: the bundled one (read once, then cached) or the YAML file at path."""
    if path is None:
        return _default_table()
    file = Path(path)
    return _parse_table(file.read_text(encoding="utf-8"), str(file))


# --------------------------------------------------------------------------- names and text


def _fold(text: str) -> str:
    """Fold width (NFKC), Traditional to Simplified and case, keeping punctuation and spacing."""
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


_KEY_NOISE = re.compile(r"[\s\-_'’‘`·.,，。、]+")
_SUFFIXES = ("特别行政区", "自治区", "省", "市", "autonomousregion", "province", "municipality")


def _key(text: str) -> str:
    return _KEY_NOISE.sub("", _fold(text))


def _strip_suffixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                key = key[: -len(suffix)]
                changed = True
    return key


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def resolve_province(name: str, table: LeavePolicyTable | None = None) -> Province:
    """Return the region a name means: Simplified, Traditional, 省/市/自治区 or not, pinyin or English."""
    table = table or load_policy()
    key = _key(name)
    if not key:
        raise UnknownProvince(name, [])
    for candidate in (key, _strip_suffixes(key)):
        found = table.lookup(candidate)
        if found is not None:
            return found
    # "浙江省杭州市": a region followed by a place inside it. One-character abbreviations are too
    # ambiguous to anchor on (新, 黑, 青 begin many words).
    prefixes = [k for k in table.keys if len(k) >= 2 and _has_cjk(k) and key.startswith(k)]
    if prefixes:
        return table.keys[max(prefixes, key=len)]
    raise UnknownProvince(name, _suggest(key, table))


def _suggest(key: str, table: LeavePolicyTable, limit: int = 3) -> list[str]:
    names: list[str] = []
    for match in difflib.get_close_matches(key, list(table.keys), n=10, cutoff=0.5):
        province = table.keys[match]
        if province.name not in names:
            names.append(province.name)
    return names[:limit]


_DATE_FORMS = (
    re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"),
    re.compile(r"(\d{4})(年)(\d{1,2})月(\d{1,2})[日号]?"),
    re.compile(r"(\d{4})()(\d{2})(\d{2})"),
)


def parse_date(text: str) -> date:
    """Parse 2026-03-05, 2026/3/5, 2026.3.5, 2026年3月5日 (or 号) or 20260305, in any width."""
    folded = unicodedata.normalize("NFKC", text).strip()
    for form in _DATE_FORMS:
        match = form.fullmatch(folded)
        if match:
            try:
                return date(int(match[1]), int(match[3]), int(match[4]))
            except ValueError:
                break
    raise InvalidDate(text)


def _search_date(folded: str) -> date | None:
    for form in _DATE_FORMS:
        for match in form.finditer(folded):
            if match[2] == "" and (
                folded[match.start() - 1 : match.start()].isdigit()
                or folded[match.end() : match.end() + 1].isdigit()
            ):
                continue  # eight digits inside a longer number (a phone number, an id)
            try:
                return date(int(match[1]), int(match[3]), int(match[4]))
            except ValueError:
                continue
    return None


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def validate_birth_date(birth_date: date, today: date) -> None:
    """Refuse a birth or due date more than 1 year ahead of today or more than 6 years before it."""
    earliest = _add_years(today, -BIRTH_DATE_YEARS_BACK)
    latest = _add_years(today, BIRTH_DATE_YEARS_AHEAD)
    if not earliest <= birth_date <= latest:
        raise BirthDateOutOfRange(birth_date, today, earliest, latest)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class LeavePart:
    """One line of the maternity breakdown: days, why (code and Chinese text), and the source."""

    days: int
    reason: str  # national_base | provincial_extra | child_order | difficult_birth | multiple_birth
    reason_text: str
    source: Source
    days_max: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the part as JSON-friendly data."""
        return {
            "days": self.days,
            "reason": self.reason,
            "reason_text": self.reason_text,
            "source": self.source.to_dict(),
        }


@dataclass(frozen=True)
class MaternityLeave:
    """Maternity leave (产假): total, first and last day; end counts from start by the minimum total."""

    total_days: int
    total_days_max: int | None
    start: date
    end: date
    earliest_start: date
    breakdown: tuple[LeavePart, ...]

    @property
    def end_max(self) -> date | None:
        """The last day when the employer grants the top of a range, else None."""
        if self.total_days_max is None:
            return None
        return self.start + timedelta(days=self.total_days_max - 1)


@dataclass(frozen=True)
class PaternityLeave:
    """Paternity / nursing leave (陪产假·护理假); days and source are None when not verified."""

    days: int | None
    source: Source | None
    window_days: int | None = None


@dataclass(frozen=True)
class ParentalLeave:
    """Parental leave (育儿假) per parent per year; None figures when not verified."""

    days_per_year: int | None
    until_age: int | None
    source: Source | None
    days_per_year_max: int | None = None
    working_days: bool = False


@dataclass(frozen=True)
class LeavePlan:
    """A family's leave plan (休假计划) for one birth in one province, every figure with its source."""

    province: Province
    birth_date: date
    child_order: int
    babies: int
    difficult: bool
    maternity: MaternityLeave
    paternity: PaternityLeave
    parental: ParentalLeave
    confidence: Confidence
    notes: tuple[Note, ...]
    unverified: tuple[str, ...]
    as_of: str | None

    @property
    def note_codes(self) -> tuple[str, ...]:
        """The codes of the notes, in order."""
        return tuple(note.code for note in self.notes)

    def to_dict(self) -> dict[str, Any]:
        """Return the plan as JSON-serialisable data (dates as ISO strings, notes as codes)."""
        return {
            "province": self.province.name,
            "maternity": {
                "total_days": self.maternity.total_days,
                "total_days_max": self.maternity.total_days_max,
                "start": self.maternity.start.isoformat(),
                "end": self.maternity.end.isoformat(),
                "breakdown": [part.to_dict() for part in self.maternity.breakdown],
            },
            "paternity": {
                "days": self.paternity.days,
                "source": None if self.paternity.source is None else self.paternity.source.to_dict(),
            },
            "parental": {
                "days_per_year": self.parental.days_per_year,
                "until_age": self.parental.until_age,
                "source": None if self.parental.source is None else self.parental.source.to_dict(),
            },
            "confidence": str(self.confidence),
            "notes": list(self.note_codes),
            "unverified": list(self.unverified),
        }


_CN_NUMERALS = "一二三四五六七八九十"


def _cn(n: int) -> str:
    return _CN_NUMERALS[n - 1] if 1 <= n <= len(_CN_NUMERALS) else str(n)


def _check_count(value: object, maximum: int, error: type[_OutOfRange]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise error(value, 1, maximum)
    return value


@dataclass
class _Draft:
    """What plan_leave gathers before freezing it into a LeavePlan."""

    parts: list[LeavePart] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    range_extra: int = 0


def plan_leave(
    province: str | Province,
    birth_date: date,
    child_order: int = 1,
    babies: int = 1,
    difficult: bool = False,
    start: date | None = None,
    table: LeavePolicyTable | None = None,
) -> LeavePlan:
    """Work out maternity, paternity and parental leave for a birth (or due date) in a province."""
    table = table or load_policy()
    region = province if isinstance(province, Province) else resolve_province(province, table)
    child_order = _check_count(child_order, MAX_CHILD_ORDER, InvalidChildOrder)
    babies = _check_count(babies, MAX_BABIES, InvalidBabies)
    national = table.national
    earliest_start = birth_date - timedelta(days=national.max_days_before_birth)
    if start is None:
        start = birth_date
    elif not earliest_start <= start <= birth_date:
        raise InvalidStartDate(start, birth_date, earliest_start, birth_date)

    draft = _Draft(notes=list(region.notes))
    draft.parts.append(
        LeavePart(
            national.maternity_days,
            "national_base",
            f"国家规定的基本产假{national.maternity_days}天，其中最多{national.max_days_before_birth}天可在分娩前休",
            national.source,
        )
    )
    _add_provincial_parts(draft, region, national, birth_date, child_order)
    _add_birth_parts(draft, region, national, babies, difficult)
    for part in draft.parts:
        if part.source.confidence is not Confidence.FOUND:
            draft.unverified.append(f"maternity.{part.reason}")

    total = sum(part.days for part in draft.parts)
    maternity = MaternityLeave(
        total_days=total,
        total_days_max=total + draft.range_extra if draft.range_extra else None,
        start=start,
        end=start + timedelta(days=total - 1),
        earliest_start=earliest_start,
        breakdown=tuple(draft.parts),
    )
    paternity = _paternity_leave(region, draft)
    parental = _parental_leave(region, draft)
    used = [part.source for part in draft.parts]
    used += [source for source in (paternity.source, parental.source) if source is not None]
    _add_closing_notes(draft, region, national, used)

    if not region.known:
        confidence = Confidence.UNKNOWN
    elif draft.unverified:
        confidence = Confidence.MEMORY
    else:
        confidence = Confidence.FOUND
    return LeavePlan(
        province=region,
        birth_date=birth_date,
        child_order=child_order,
        babies=babies,
        difficult=difficult,
        maternity=maternity,
        paternity=paternity,
        parental=parental,
        confidence=confidence,
        notes=tuple(draft.notes),
        unverified=tuple(dict.fromkeys(draft.unverified)),
        as_of=table.as_of,
    )


def _add_provincial_parts(
    draft: _Draft, region: Province, national: NationalRule, birth_date: date, child_order: int
) -> None:
    maternity = region.maternity
    if maternity is None:
        draft.unverified.append("maternity.provincial_extra")
        draft.notes.append(
            Note(
                "provincial-addition-unknown",
                f"没有核实到{region.full_name}在国家{national.maternity_days}天之外增加产假的规定，"
                "这里只按国家规定计算；请向当地卫生健康委员会或人力资源社会保障部门咨询，或拨打12320。",
            )
        )
        return

    version = maternity.version_for(birth_date)
    extra = version.total_days - national.maternity_days
    when = _version_scope(maternity, version)
    if version.total_days_max is not None:
        draft.range_extra = version.total_days_max - version.total_days
        top = extra + draft.range_extra
        draft.parts.append(
            LeavePart(
                extra,
                "provincial_extra",
                f"{region.full_name}在国家规定之外增加产假{extra}至{top}天，具体天数由用人单位确定{when}",
                version.source,
                days_max=top,
            )
        )
        draft.notes.append(
            Note(
                "employer-chooses-within-range",
                f"{region.full_name}产假为{version.total_days}至{version.total_days_max}天"
                "（不含难产、多胞胎增加的天数），具体天数由用人单位确定；结束日期按最少的天数计算。",
            )
        )
    elif extra > 0:
        draft.parts.append(
            LeavePart(
                extra,
                "provincial_extra",
                f"{region.full_name}在国家规定之外增加产假{extra}天{when}",
                version.source,
            )
        )
    if len(maternity.versions) > 1:
        draft.notes.append(Note("rule-by-birth-date", _versions_text(region, maternity)))

    for rule in maternity.child_order:
        if rule.applies_to(child_order):
            draft.parts.append(
                LeavePart(
                    rule.extra_days,
                    "child_order",
                    f"{region.full_name}规定生育第{_cn(child_order)}个孩子再增加产假{rule.extra_days}天",
                    rule.source,
                )
            )
    if child_order > HIGHEST_COVERED_CHILD_ORDER:
        draft.unverified.append("maternity.child_order")
        draft.notes.append(
            Note(
                "child-order-not-covered",
                f"政策表只收录第一至第{_cn(HIGHEST_COVERED_CHILD_ORDER)}个孩子的规定；"
                f"第{_cn(child_order)}个孩子能否享受本地增加的产假，请向当地卫生健康委员会核实。",
            )
        )


def _add_birth_parts(
    draft: _Draft, region: Province, national: NationalRule, babies: int, difficult: bool
) -> None:
    if difficult:
        provincial = region.maternity.difficult_birth if region.maternity is not None else None
        if provincial is not None:
            draft.parts.append(
                LeavePart(
                    provincial.days,
                    "difficult_birth",
                    f"{region.full_name}规定难产增加产假{provincial.days}天"
                    f"（代替国家规定的{national.difficult_birth_days}天）",
                    provincial.source,
                )
            )
        else:
            draft.parts.append(
                LeavePart(
                    national.difficult_birth_days,
                    "difficult_birth",
                    f"难产增加产假{national.difficult_birth_days}天",
                    national.source,
                )
            )
    if babies > 1:
        days = national.per_additional_baby_days * (babies - 1)
        draft.parts.append(
            LeavePart(
                days,
                "multiple_birth",
                f"一次生育{babies}个婴儿，每多1个增加产假{national.per_additional_baby_days}天，共增加{days}天",
                national.source,
            )
        )


def _add_closing_notes(draft: _Draft, region: Province, national: NationalRule, used: list[Source]) -> None:
    if any(source.confidence_detail == "low" for source in used):
        draft.notes.append(Note("low-confidence", "部分数字凭记忆整理、把握较低，请务必向当地核实。"))
    if any(source.confidence_detail == "weak" for source in used):
        draft.notes.append(Note("weak-source", "部分数字的出处不够权威，请向当地核实。"))
    # An unknown region already carries its own "ask 12320" notes; a second one would only repeat them.
    if draft.unverified and region.known:
        draft.notes.append(
            Note(
                "verify-locally",
                "标为未核实的数字没有见到官方原文，请向当地卫生健康委员会或人力资源社会保障部门核实，也可拨打12320。",
            )
        )
    draft.notes.append(
        Note(
            "up-to-15-days-before-birth",
            f"国家规定的{national.maternity_days}天产假中，最多{national.max_days_before_birth}天可以在分娩前休，"
            "提前休的天数算在总天数之内。",
        )
    )
    draft.notes.append(
        Note(
            "caesarean-not-automatically-difficult",
            "剖宫产不自动算难产，是否按难产增加产假以医院出具的证明为准。",
        )
    )


def _version_scope(maternity: ProvincialMaternity, version: MaternityVersion) -> str:
    if len(maternity.versions) == 1:
        return ""
    if version.births_on_or_after is not None:
        return f"（适用于{version.births_on_or_after.isoformat()}及以后出生的孩子）"
    first_change = maternity.versions[1].births_on_or_after
    return f"（适用于{first_change.isoformat()}之前出生的孩子）" if first_change else ""


def _versions_text(region: Province, maternity: ProvincialMaternity) -> str:
    pieces = []
    for i, version in enumerate(maternity.versions):
        following = maternity.versions[i + 1].births_on_or_after if i + 1 < len(maternity.versions) else None
        if version.births_on_or_after is None and following is not None:
            pieces.append(f"{following.isoformat()}之前出生的为{version.total_days}天")
        elif version.births_on_or_after is not None:
            pieces.append(f"{version.births_on_or_after.isoformat()}及以后出生的为{version.total_days}天")
    return f"{region.full_name}产假天数按孩子出生日期确定：" + "，".join(pieces) + "。"


def _paternity_leave(region: Province, draft: _Draft) -> PaternityLeave:
    rule = region.paternity
    if rule is None:
        draft.unverified.append("paternity.days")
        draft.notes.append(
            Note(
                "paternity-unknown",
                f"没有核实到{region.full_name}陪产假（护理假）的天数，请向当地卫生健康委员会咨询或拨打12320。",
            )
        )
        return PaternityLeave(None, None)
    if rule.source.confidence is not Confidence.FOUND:
        draft.unverified.append("paternity.days")
    return PaternityLeave(rule.days, rule.source, rule.window_days)


def _parental_leave(region: Province, draft: _Draft) -> ParentalLeave:
    rule = region.parental
    if rule is None:
        draft.unverified.append("parental.days_per_year")
        draft.notes.append(
            Note(
                "parental-unknown",
                f"没有核实到{region.full_name}育儿假的天数，请向当地卫生健康委员会咨询或拨打12320。",
            )
        )
        return ParentalLeave(None, None, None)
    if rule.source.confidence is not Confidence.FOUND:
        draft.unverified.append("parental.days_per_year")
    if rule.days_per_year_max is not None:
        draft.notes.append(
            Note(
                "parental-range",
                f"{region.full_name}育儿假为每人每年{rule.days_per_year}至{rule.days_per_year_max}天，"
                f"这里按最少的天数显示；可以休到孩子满{rule.until_age}周岁。",
            )
        )
    if rule.working_days:
        draft.notes.append(
            Note(
                "parental-working-days",
                f"{region.full_name}育儿假按工作日计算：每人每年{rule.days_per_year}个工作日。",
            )
        )
    return ParentalLeave(
        rule.days_per_year, rule.until_age, rule.source, rule.days_per_year_max, rule.working_days
    )


@dataclass(frozen=True)
class MiscarriageLeave:
    """Leave after a miscarriage (流产假) under the national rule."""

    days: int
    source: Source
    notes: tuple[Note, ...]


def miscarriage_leave(completed_months: int, table: LeavePolicyTable | None = None) -> MiscarriageLeave:
    """Return the national miscarriage leave for a pregnancy of completed_months (0-10) full months."""
    table = table or load_policy()
    if (
        isinstance(completed_months, bool)
        or not isinstance(completed_months, int)
        or not 0 <= completed_months <= 10
    ):
        raise InvalidPregnancyMonths(completed_months, 0, 10)
    national = table.national
    days = (
        national.miscarriage_before_4_months_days
        if completed_months < 4
        else national.miscarriage_from_4_months_days
    )
    note = Note(
        "provincial-miscarriage-rules-not-in-table",
        "这是国家规定的天数；各省对流产假的规定没有收录，请向当地核实。",
    )
    return MiscarriageLeave(days, national.source, (note,))


# --------------------------------------------------------------------------- free-text questions


@dataclass(frozen=True)
class LeaveQuestion:
    """What a free-text leave question asks: which region, which leave, and the birth's details if given."""

    province: Province
    kinds: tuple[LeaveKind, ...]
    child_order: int | None = None
    babies: int | None = None
    difficult: bool = False
    caesarean: bool = False
    birth_date: date | None = None
    other_provinces: tuple[str, ...] = ()

    @property
    def kind(self) -> LeaveKind:
        """The first kind of leave the question mentions."""
        return self.kinds[0]


_KIND_PATTERNS: tuple[tuple[LeaveKind, re.Pattern[str]], ...] = (
    # Paternity first: 陪产假 contains 产假, so its matches are blanked before maternity is looked for.
    (LeaveKind.PATERNITY, re.compile(r"陪产假?|护理假|陪护假|paternity")),
    (LeaveKind.PARENTAL, re.compile(r"育儿假|parental|child\s*care\s+leave")),
    (LeaveKind.MATERNITY, re.compile(r"产假|生育假|maternity")),
)
_ORDER_WORDS = {
    "一": 1,
    "头": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_ORDER_ZH = re.compile(
    r"第([一二三四五六七八九十]|10|[1-9])(?:胎|孩|宝|个孩子|个小孩|个宝宝|个娃)"
    r"|(头一?|[一二三四五六七八九十]|[1-9])(?:胎|孩|宝)"
    r"|老([二三四五])"
)
_ORDER_EN = re.compile(
    r"(?<![a-z])(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th)[\s-]*(?:child|baby|kid|born)"
)
_ORDER_EN_WORDS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
    "fourth": 4, "4th": 4, "fifth": 5, "5th": 5,
}  # fmt: skip
_BABIES = (
    (re.compile(r"双胞胎|双胎|龙凤胎|(?<![a-z])twins?(?![a-z])"), 2),
    (re.compile(r"三胞胎|(?<![a-z])triplets?(?![a-z])"), 3),
    (re.compile(r"四胞胎|(?<![a-z])quadruplets?(?![a-z])"), 4),
)
_DIFFICULT = re.compile(r"难产|difficult\s+(?:birth|delivery|labou?r)|dystocia")
_NOT_DIFFICULT = re.compile(r"(?:不是|不算|没有|没|非|无)难产|not\s+(?:a\s+)?difficult")
_CAESAREAN = re.compile(r"剖腹产|剖宫产|剖腹|c-?section|ca?esarean")


def _alias_pattern(table: LeavePolicyTable) -> re.Pattern[str]:
    terms: set[str] = set()
    for province in table:
        for term in _terms_of(province)[1:]:
            folded = _fold(term).strip()
            # One-character abbreviations (新, 黑, 青…) start too many ordinary words to find in prose.
            if _has_cjk(folded) and len(folded) >= 2:
                terms.add(re.escape(folded))
            elif not _has_cjk(folded) and len(folded) >= 4:
                body = re.escape(folded).replace(r"\ ", r"[\s\-]*").replace("'", "['’]?")
                terms.add(rf"(?<![a-z]){body}(?![a-z])")
    ordered = sorted(terms, key=len, reverse=True)
    return re.compile("|".join(ordered))


def _find_provinces(folded: str, table: LeavePolicyTable) -> list[Province]:
    pattern = table.name_pattern
    found: list[Province] = []
    for match in pattern.finditer(folded):
        province = table.lookup(_key(match.group(0))) or table.lookup(_strip_suffixes(_key(match.group(0))))
        if province is not None and province not in found:
            found.append(province)
    return found


def _find_kinds(folded: str) -> tuple[LeaveKind, ...]:
    positions: dict[LeaveKind, int] = {}
    text = folded
    for kind, pattern in _KIND_PATTERNS:
        for match in pattern.finditer(text):
            positions.setdefault(kind, match.start())
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return tuple(sorted(positions, key=positions.__getitem__))


def _find_child_order(folded: str) -> int | None:
    orders: list[int] = []
    for match in _ORDER_ZH.finditer(folded):
        word = next(g for g in match.groups() if g)
        orders.append(int(word) if word.isdigit() else _ORDER_WORDS[word[0]])
    orders.extend(_ORDER_EN_WORDS[m.group(1)] for m in _ORDER_EN.finditer(folded))
    valid = [n for n in orders if 1 <= n <= MAX_CHILD_ORDER]
    # "大宝3岁了，二宝的产假": the leave is for the latest child, so the highest order wins.
    return max(valid) if valid else None


def _find_babies(folded: str) -> int | None:
    counts = [n for pattern, n in _BABIES if pattern.search(folded)]
    return max(counts) if counts else None


def parse_leave_question(text: str, table: LeavePolicyTable | None = None) -> LeaveQuestion | None:
    """Read a free-text question naming a region and a kind of leave; None if either is missing."""
    table = table or load_policy()
    folded = _fold(text)
    kinds = _find_kinds(folded)
    if not kinds:
        return None
    provinces = _find_provinces(folded, table)
    if not provinces:
        return None
    difficult = bool(_DIFFICULT.search(folded)) and not _NOT_DIFFICULT.search(folded)
    return LeaveQuestion(
        province=provinces[0],
        kinds=kinds,
        child_order=_find_child_order(folded),
        babies=_find_babies(folded),
        difficult=difficult,
        caesarean=bool(_CAESAREAN.search(folded)),
        birth_date=_search_date(unicodedata.normalize("NFKC", text)),
        other_provinces=tuple(p.name for p in provinces[1:]),
    )
