"""Checks every real knowledge-base entry in knowledge/data/kb/*.yaml against the data format.
Each test lists every offending entry by file and id, so one run shows all that needs fixing."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from knowledge.kb import (
    AUDIENCES,
    CONFIDENCES,
    KB_DIR,
    MIN_QUESTIONS,
    REQUIRED_KEYS,
    KnowledgeBase,
    KnowledgeBaseError,
)

MIN_ENTRIES = 150
MAX_ANSWER_CHARS = 500
DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

RawEntry = tuple[str, dict[str, object]]


@pytest.fixture(scope="module")
def raw_entries() -> list[RawEntry]:
    files = sorted(KB_DIR.glob("*.yaml"))
    assert files, f"no knowledge-base files in {KB_DIR}"
    entries: list[RawEntry] = []
    for file in files:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or []
        assert isinstance(data, list), f"{file.name}: expected a list of entries"
        for position, item in enumerate(data, start=1):
            assert isinstance(item, dict), f"{file.name}#{position}: entry is not a mapping"
            entries.append((f"{file.name}:{item.get('id', f'#{position}')}", item))
    return entries


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)


def test_loader_accepts_the_knowledge_base() -> None:
    try:
        kb = KnowledgeBase.load()
    except KnowledgeBaseError as exc:
        pytest.fail(_report(exc.problems))
    assert len(kb) >= MIN_ENTRIES, f"only {len(kb)} entries, want at least {MIN_ENTRIES}"


def test_ids_are_unique_and_well_formed(raw_entries: list[RawEntry]) -> None:
    counts = Counter(str(raw.get("id")) for _, raw in raw_entries)
    problems = [
        f"{where}: id used {counts[str(raw.get('id'))]} times"
        for where, raw in raw_entries
        if counts[str(raw.get("id"))] > 1
    ]
    problems += [
        f"{where}: malformed id" for where, raw in raw_entries if not ID.match(str(raw.get("id", "")))
    ]
    assert not problems, _report(problems)


def test_every_key_is_present(raw_entries: list[RawEntry]) -> None:
    problems = [
        f"{where}: missing {', '.join(k for k in REQUIRED_KEYS if k not in raw)}"
        for where, raw in raw_entries
        if any(k not in raw for k in REQUIRED_KEYS)
    ]
    assert not problems, _report(problems)


def test_at_least_three_questions(raw_entries: list[RawEntry]) -> None:
    problems = []
    for where, raw in raw_entries:
        questions = raw.get("questions")
        good = (
            [q for q in questions if isinstance(q, str) and q.strip()] if isinstance(questions, list) else []
        )
        if len(good) < MIN_QUESTIONS:
            problems.append(f"{where}: {len(good)} questions")
    assert not problems, _report(problems)


def test_keywords_and_audience_are_lists_of_strings(raw_entries: list[RawEntry]) -> None:
    problems = []
    for where, raw in raw_entries:
        for key in ("keywords", "audience"):
            value = raw.get(key)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"{where}: {key} has non-strings (quote 1:3, numbers): {value!r}")
        audience = raw.get("audience")
        if isinstance(audience, list) and (not audience or not set(audience) <= AUDIENCES):
            problems.append(f"{where}: audience {audience!r}")
    assert not problems, _report(problems)


def test_source_names_a_document(raw_entries: list[RawEntry]) -> None:
    problems = []
    for where, raw in raw_entries:
        source = raw.get("source")
        if not isinstance(source, dict):
            problems.append(f"{where}: source is not a mapping")
            continue
        document = source.get("document")
        if not isinstance(document, str) or not document.strip():
            problems.append(f"{where}: source.document is empty")
        if not isinstance(source.get("number", ""), str | None):
            problems.append(f"{where}: source.number is not a string")
    assert not problems, _report(problems)


def test_dates_are_valid(raw_entries: list[RawEntry]) -> None:
    problems = []
    for where, raw in raw_entries:
        for key in ("effective", "as_of"):
            # Unquoted YAML dates arrive as date objects; their str() is ISO.
            text = str(raw.get(key, ""))
            if not DATE.match(text):
                problems.append(f"{where}: {key} {text!r}")
    assert not problems, _report(problems)


def test_confidence_is_found_or_memory(raw_entries: list[RawEntry]) -> None:
    problems = [
        f"{where}: {raw.get('confidence')!r}"
        for where, raw in raw_entries
        if raw.get("confidence") not in CONFIDENCES
    ]
    assert not problems, _report(problems)


def test_answers_are_short(raw_entries: list[RawEntry]) -> None:
    problems = [
        f"{where}: {len(str(raw.get('answer', '')))} characters"
        for where, raw in raw_entries
        if not str(raw.get("answer", "")).strip() or len(str(raw.get("answer", ""))) > MAX_ANSWER_CHARS
    ]
    assert not problems, _report(problems)


def test_related_ids_exist(raw_entries: list[RawEntry]) -> None:
    ids = {raw.get("id") for _, raw in raw_entries}
    problems = []
    for where, raw in raw_entries:
        related = raw.get("related") or []
        if not isinstance(related, list):
            problems.append(f"{where}: related is not a list")
            continue
        for other in related:
            if other not in ids or other == raw.get("id"):
                problems.append(f"{where}: related {other!r}")
    assert not problems, _report(problems)


def test_enough_entries(raw_entries: list[RawEntry]) -> None:
    assert len(raw_entries) >= MIN_ENTRIES, f"only {len(raw_entries)} entries, want at least {MIN_ENTRIES}"
