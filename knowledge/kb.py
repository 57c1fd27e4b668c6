"""The curated knowledge base: entries read from knowledge/data/kb/*.yaml and validated.
Every entry names its source document, the date it took effect and how sure we are of it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, Literal

import yaml

KB_DIR: Final = Path(__file__).resolve().parent / "data" / "kb"

AUDIENCES: Final = frozenset({"parent", "operator", "commission"})
CONFIDENCES: Final = frozenset({"FOUND", "MEMORY"})
Confidence = Literal["FOUND", "MEMORY"]

REQUIRED_KEYS: Final = (
    "id",
    "title",
    "questions",
    "keywords",
    "answer",
    "audience",
    "region",
    "source",
    "effective",
    "as_of",
    "confidence",
)
OPTIONAL_KEYS: Final = ("related",)
MIN_QUESTIONS: Final = 3

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

# The C loader parses the knowledge base about ten times faster; it is optional in PyYAML builds.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeBaseError(ValueError):
    """One or more knowledge-base entries are invalid; `problems` lists each, naming file and id."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid knowledge base:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class Source:
    """The document an entry is taken from: its name and its number (文号; "" when it has none)."""

    document: str
    number: str = ""


@dataclass(frozen=True)
class Entry:
    """One curated question and answer (知识条目)."""

    id: str
    title: str
    questions: tuple[str, ...]
    keywords: tuple[str, ...]
    answer: str
    audience: tuple[str, ...]
    region: str
    source: Source
    effective: str
    as_of: str
    confidence: Confidence
    related: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        """False for MEMORY entries, which are shown with a "please verify" line."""
        return self.confidence == "FOUND"


def _date_text(value: object) -> str | None:
    """The value as YYYY-MM-DD, YYYY-MM or YYYY, or None if it is none of them.

    YAML turns an unquoted 2019-10-08 into a date and 2019 into an int, so both are accepted.
    """
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _YEAR.match(text) or _MONTH.match(text):
        return text
    try:
        return date.fromisoformat(text).isoformat() if len(text) == 10 else None
    except ValueError:
        return None


def _strings(value: object, key: str, problems: list[str], *, allow_empty: bool = True) -> tuple[str, ...]:
    if not isinstance(value, list):
        problems.append(f"{key}: expected a list of strings, got {type(value).__name__}")
        return ()
    odd = [v for v in value if not isinstance(v, str)]
    if odd:
        # YAML reads 1:3 as a base-60 integer and 98 as a number: the fix is to quote them.
        problems.append(f"{key}: items {odd!r} are not strings (quote them in the YAML)")
        return ()
    items = tuple(v.strip() for v in value)
    if any(not v for v in items):
        problems.append(f"{key}: contains an empty string")
    if not allow_empty and not items:
        problems.append(f"{key}: must not be empty")
    return tuple(v for v in items if v)


def _text(value: object, key: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{key}: expected a non-empty string")
        return ""
    return value.strip()


def validate_entry(raw: object, *, where: str = "") -> Entry:
    """Check one raw YAML entry against the data format and build it.

    Raises KnowledgeBaseError listing every problem, each prefixed with `where` and the entry id.
    """
    prefix = f"{where}: " if where else ""
    if not isinstance(raw, Mapping):
        raise KnowledgeBaseError([f"{prefix}entry is not a mapping: {raw!r:.80}"])
    entry_id = raw.get("id")
    label = f"{prefix}entry {entry_id!r}" if isinstance(entry_id, str) else f"{prefix}entry without id"
    problems: list[str] = []

    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    unknown = sorted(str(k) for k in raw if k not in REQUIRED_KEYS and k not in OPTIONAL_KEYS)
    if unknown:
        problems.append(f"unknown keys: {', '.join(unknown)}")

    if "id" in raw and (not isinstance(entry_id, str) or not _ID.match(entry_id)):
        problems.append(f"id: {entry_id!r} is not lowercase ascii words joined by '-'")
    title = _text(raw.get("title"), "title", problems) if "title" in raw else ""
    answer = _text(raw.get("answer"), "answer", problems) if "answer" in raw else ""
    region = _text(raw.get("region"), "region", problems) if "region" in raw else ""

    questions: tuple[str, ...] = ()
    if "questions" in raw:
        questions = _strings(raw["questions"], "questions", problems)
        if len(questions) < MIN_QUESTIONS:
            problems.append(f"questions: need at least {MIN_QUESTIONS}, got {len(questions)}")
    keywords = _strings(raw["keywords"], "keywords", problems) if "keywords" in raw else ()

    audience: tuple[str, ...] = ()
    if "audience" in raw:
        audience = _strings(raw["audience"], "audience", problems, allow_empty=False)
        strange = [a for a in audience if a not in AUDIENCES]
        if strange:
            problems.append(f"audience: {strange} not in {sorted(AUDIENCES)}")

    source = Source("")
    if "source" in raw:
        value = raw["source"]
        if not isinstance(value, Mapping):
            problems.append("source: expected a mapping with document and number")
        else:
            document = _text(value.get("document"), "source.document", problems)
            number = value.get("number", "")
            if number is None:
                number = ""
            if not isinstance(number, str):
                problems.append(f"source.number: expected a string (quote it), got {number!r}")
                number = str(number)
            extra = sorted(str(k) for k in value if k not in ("document", "number"))
            if extra:
                problems.append(f"source: unknown keys: {', '.join(extra)}")
            source = Source(document=document, number=number.strip())

    dates: dict[str, str] = {}
    for key in ("effective", "as_of"):
        if key in raw:
            text = _date_text(raw[key])
            if text is None:
                problems.append(f"{key}: {raw[key]!r} is not YYYY-MM-DD, YYYY-MM or YYYY")
            dates[key] = text or ""

    confidence = raw.get("confidence")
    if "confidence" in raw and confidence not in CONFIDENCES:
        problems.append(f"confidence: {confidence!r} not in {sorted(CONFIDENCES)}")

    related: tuple[str, ...] = ()
    if raw.get("related") is not None:
        related = _strings(raw["related"], "related", problems)
        if isinstance(entry_id, str) and entry_id in related:
            problems.append("related: lists the entry itself")

    if problems:
        raise KnowledgeBaseError(f"{label}: {p}" for p in problems)
    return Entry(
        id=str(entry_id),
        title=title,
        questions=questions,
        keywords=keywords,
        answer=answer,
        audience=audience,
        region=region,
        source=source,
        effective=dates["effective"],
        as_of=dates["as_of"],
        confidence="FOUND" if confidence == "FOUND" else "MEMORY",
        related=related,
    )


@dataclass(frozen=True)
class KnowledgeBase:
    """All curated entries, in file order, with lookup by id."""

    entries: tuple[Entry, ...]
    _by_id: Mapping[str, Entry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, Entry] = {}
        problems: list[str] = []
        for entry in self.entries:
            if entry.id in by_id:
                problems.append(f"entry {entry.id!r}: duplicate id")
            by_id[entry.id] = entry
        for entry in self.entries:
            dangling = [r for r in entry.related if r not in by_id]
            if dangling:
                problems.append(f"entry {entry.id!r}: related ids not in the knowledge base: {dangling}")
        if problems:
            raise KnowledgeBaseError(problems)
        object.__setattr__(self, "_by_id", by_id)

    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        return self._by_id.get(entry_id)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    @classmethod
    def load(cls, path: Path | None = None) -> KnowledgeBase:
        """Read and validate every *.yaml file in a folder (default: the bundled kb/), or one file.

        Raises KnowledgeBaseError listing every invalid entry, duplicate id and dangling related id,
        each named by file and id.
        """
        root = KB_DIR if path is None else Path(path)
        files = sorted(root.glob("*.yaml")) if root.is_dir() else [root]
        if not files:
            raise KnowledgeBaseError([f"{root}: no *.yaml files"])
        entries: list[Entry] = []
        problems: list[str] = []
        origin: dict[str, str] = {}
        for file in files:
            try:
                raw = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
            except (OSError, yaml.YAMLError) as exc:
                problems.append(f"{file.name}: cannot read: {exc}")
                continue
            if raw is None:
                continue
            if not isinstance(raw, list):
                problems.append(f"{file.name}: expected a list of entries")
                continue
            for position, item in enumerate(raw, start=1):
                try:
                    entry = validate_entry(item, where=f"{file.name}#{position}")
                except KnowledgeBaseError as exc:
                    problems.extend(exc.problems)
                    continue
                if entry.id in origin:
                    problems.append(
                        f"{file.name}#{position}: entry {entry.id!r}: duplicate id (first in {origin[entry.id]})"
                    )
                    continue
                origin[entry.id] = file.name
                entries.append(entry)
        if problems:
            raise KnowledgeBaseError(problems)
        try:
            return cls(tuple(entries))
        except KnowledgeBaseError as exc:
            raise KnowledgeBaseError(f"{origin.get(_id_of(p), '?')}: {p}" for p in exc.problems) from None


def _id_of(problem: str) -> str:
    match = re.match(r"entry '([^']+)'", problem)
    return match.group(1) if match else ""
