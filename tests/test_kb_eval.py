"""Evaluates retrieval on the real knowledge base with the questions in tests/data/kb_eval/*.yaml.
In-scope questions must reach their expected entry; out-of-scope ones must be refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from knowledge.kb import KnowledgeBase
from knowledge.search import Retriever

EVAL_DIR = Path(__file__).resolve().parent / "data" / "kb_eval"
MIN_IN_SCOPE = 150
MIN_OUT_OF_SCOPE = 40
MIN_ACCURACY = 0.90
MIN_REFUSAL = 0.90


@dataclass(frozen=True)
class EvalSet:
    in_scope: list[tuple[str, tuple[str, ...], str]]  # question, acceptable entry ids, file
    out_of_scope: list[tuple[str, str]]  # question, file


def load_eval(folder: Path = EVAL_DIR) -> EvalSet:
    in_scope: list[tuple[str, tuple[str, ...], str]] = []
    out_of_scope: list[tuple[str, str]] = []
    for file in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for item in data.get("in_scope") or []:
            expected = item["expected"]
            ids = tuple(expected) if isinstance(expected, list) else (str(expected),)
            in_scope.append((str(item["q"]), ids, file.name))
        for item in data.get("out_of_scope") or []:
            out_of_scope.append((str(item["q"]), file.name))
    return EvalSet(in_scope, out_of_scope)


@pytest.fixture(scope="module")
def eval_set() -> EvalSet:
    if not EVAL_DIR.is_dir():
        pytest.fail(f"{EVAL_DIR} is missing")
    return load_eval()


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.fixture(scope="module")
def retriever(kb: KnowledgeBase) -> Retriever:
    return Retriever(kb)


def test_eval_set_is_large_enough(eval_set: EvalSet) -> None:
    assert len(eval_set.in_scope) >= MIN_IN_SCOPE, f"{len(eval_set.in_scope)} in-scope questions"
    assert len(eval_set.out_of_scope) >= MIN_OUT_OF_SCOPE, (
        f"{len(eval_set.out_of_scope)} out-of-scope questions"
    )


def test_expected_entries_exist(eval_set: EvalSet, kb: KnowledgeBase) -> None:
    missing = [
        f"{file}: {q!r} expects {ids}" for q, ids, file in eval_set.in_scope if not any(i in kb for i in ids)
    ]
    assert not missing, "expected ids not in the knowledge base:\n  " + "\n  ".join(missing)


def test_in_scope_top1_accuracy(eval_set: EvalSet, retriever: Retriever) -> None:
    misses = []
    for question, ids, file in eval_set.in_scope:
        answer = retriever.ask(question)
        if answer.entry is None or answer.entry.id not in ids:
            got = "refused" if answer.entry is None else answer.entry.id
            nearest = ", ".join(f"{e.id} {s:.2f}" for e, s in answer.alternatives)
            misses.append(
                f"{file}: {question!r} expected {'|'.join(ids)}, got {got} ({answer.score:.2f}); next: {nearest}"
            )
    accuracy = 1 - len(misses) / len(eval_set.in_scope)
    assert accuracy >= MIN_ACCURACY, (
        f"top-1 accuracy {accuracy:.3f}; {len(misses)} misses:\n  " + "\n  ".join(misses)
    )


def test_out_of_scope_refusal(eval_set: EvalSet, retriever: Retriever) -> None:
    answered = []
    for question, file in eval_set.out_of_scope:
        answer = retriever.ask(question)
        if not answer.abstained:
            assert answer.entry is not None
            answered.append(f"{file}: {question!r} answered with {answer.entry.id} ({answer.score:.2f})")
    refusal = 1 - len(answered) / len(eval_set.out_of_scope)
    assert refusal >= MIN_REFUSAL, f"refusal rate {refusal:.3f}; answered:\n  " + "\n  ".join(answered)
