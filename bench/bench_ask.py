"""Benchmark of knowledge-base question answering: latency, accuracy, refusal, cold start, memory.
Compares the retriever with a plain rank_bm25 + jieba baseline, on the real KB and 20,000 entries."""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from knowledge.kb import Entry, KnowledgeBase  # noqa: E402
from knowledge.search import Retriever  # noqa: E402
from knowledge.tokenize import default_analyzer  # noqa: E402

EVAL_DIR = ROOT / "tests" / "data" / "kb_eval"
SEED = 20240601

# answer(question) -> (entry id or None when refused, confidence or raw score)
Asker = Callable[[str], tuple[str | None, float]]


@dataclass(frozen=True)
class EvalSet:
    in_scope: list[tuple[str, tuple[str, ...]]]
    out_of_scope: list[str]

    @property
    def questions(self) -> list[str]:
        return [q for q, _ in self.in_scope] + self.out_of_scope


def load_eval(folder: Path = EVAL_DIR) -> EvalSet:
    in_scope: list[tuple[str, tuple[str, ...]]] = []
    out_of_scope: list[str] = []
    for file in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for item in data.get("in_scope") or []:
            expected = item["expected"]
            in_scope.append(
                (str(item["q"]), tuple(expected) if isinstance(expected, list) else (str(expected),))
            )
        out_of_scope.extend(str(item["q"]) for item in data.get("out_of_scope") or [])
    return EvalSet(in_scope, out_of_scope)


def synthetic_kb(real: KnowledgeBase, total: int, seed: int = SEED) -> KnowledgeBase:
    """The real entries plus made-up ones whose texts recombine the real entries' words."""
    segment = default_analyzer().segment
    rng = random.Random(seed)
    question_words = [w for e in real for q in e.questions for w in segment(q) if w.strip()]
    keyword_pool = [k for e in real for k in e.keywords]
    templates = list(real.entries)

    def sentence(low: int, high: int) -> str:
        return "".join(rng.choice(question_words) for _ in range(rng.randint(low, high)))

    entries = list(real.entries)
    for i in range(total - len(entries)):
        base = rng.choice(templates)
        entries.append(
            replace(
                base,
                id=f"synthetic-{i:05d}",
                title=sentence(2, 5),
                questions=tuple(sentence(3, 9) for _ in range(rng.randint(3, 6))),
                keywords=tuple(rng.sample(keyword_pool, k=min(len(keyword_pool), rng.randint(2, 6)))),
                related=(),
            )
        )
    return KnowledgeBase(tuple(entries))


class Baseline:
    """rank_bm25 over jieba's default cut: no normalisation, no synonyms, one document per entry."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        import jieba
        from rank_bm25 import BM25Okapi

        self._cut = jieba.lcut
        self.entries = list(entries)
        docs = [self._cut(" ".join((e.title, *e.questions, *e.keywords))) for e in self.entries]
        self.bm25 = BM25Okapi(docs)
        self.threshold = 0.0

    def raw(self, question: str) -> tuple[str | None, float]:
        tokens = [t for t in self._cut(question) if t.strip()]
        if not tokens:
            return None, 0.0
        scores = self.bm25.get_scores(tokens)
        best = int(scores.argmax())
        return self.entries[best].id, float(scores[best])

    def ask(self, question: str) -> tuple[str | None, float]:
        entry_id, score = self.raw(question)
        return (entry_id if score > self.threshold else None), score


def retriever_asker(retriever: Retriever) -> Asker:
    def ask(question: str) -> tuple[str | None, float]:
        answer = retriever.ask(question)
        return (answer.entry.id if answer.entry else None), answer.score

    return ask


def latency_ms(ask: Asker, questions: Sequence[str], rounds: int) -> tuple[float, float]:
    for question in questions[:20]:
        ask(question)
    samples = []
    for _ in range(rounds):
        for question in questions:
            start = time.perf_counter()
            ask(question)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def quality(ask: Asker, eval_set: EvalSet) -> tuple[float, float]:
    correct = sum(1 for q, ids in eval_set.in_scope if ask(q)[0] in ids)
    refused = sum(1 for q in eval_set.out_of_scope if ask(q)[0] is None)
    return correct / max(1, len(eval_set.in_scope)), refused / max(1, len(eval_set.out_of_scope))


def calibrate_baseline(baseline: Baseline, eval_set: EvalSet) -> None:
    """Give the baseline its best raw-score threshold (refusal ≥ 90%, then accuracy), to be fair."""
    inside = [(baseline.raw(q), ids) for q, ids in eval_set.in_scope]
    outside = [baseline.raw(q)[1] for q in eval_set.out_of_scope]
    best = (-1.0, -1.0, 0.0)
    for threshold in sorted({s for (_, s), _ in inside} | set(outside) | {0.0}):
        accuracy = sum(1 for (i, s), ids in inside if s > threshold and i in ids) / max(1, len(inside))
        refusal = sum(1 for s in outside if s <= threshold) / max(1, len(outside))
        key = (min(refusal, 0.9), accuracy, -threshold)
        if key > best:
            best = key
    baseline.threshold = -best[2]


def ablations(kb: KnowledgeBase) -> list[tuple[str, Asker]]:
    """The retriever with one design choice undone, to show what each is worth."""
    from knowledge.search import RetrieverConfig
    from knowledge.tokenize import Analyzer

    variants: list[tuple[str, RetrieverConfig, Analyzer | None]] = [
        ("one document per question, max per entry", RetrieverConfig(per_question=True), None),
        ("no pinyin-bigram index", RetrieverConfig(sound_weight=0.0), None),
        ("no homophone spelling correction", RetrieverConfig(spell=False), None),
        ("no place factors", RetrieverConfig(named_region=1, other_region=1, unnamed_region=1), None),
        ("question words kept", RetrieverConfig(), Analyzer(stop_question_words=False)),
        ("no HMM for unknown words", RetrieverConfig(), Analyzer(hmm=False)),
        ("no sub-words of long words", RetrieverConfig(), Analyzer(subwords=False)),
        ("no domain dictionary", RetrieverConfig(), Analyzer(dictionary=None)),
    ]
    return [(name, retriever_asker(Retriever(kb, config=c, analyzer=a))) for name, c, a in variants]


def threshold_curve(retriever: Retriever, eval_set: EvalSet) -> list[tuple[float, float, float]]:
    """Accuracy and refusal at each candidate threshold: how THRESHOLD in search.py was chosen."""
    inside = []
    for question, ids in eval_set.in_scope:
        answer = retriever.ask(question)
        top = answer.entry or (answer.alternatives[0][0] if answer.alternatives else None)
        inside.append((top is not None and top.id in ids, answer.score))
    outside = [retriever.ask(q).score for q in eval_set.out_of_scope]
    curve = []
    for step in range(20, 81, 2):
        threshold = step / 100
        accuracy = sum(1 for ok, s in inside if ok and s >= threshold) / max(1, len(inside))
        refusal = sum(1 for s in outside if s < threshold) / max(1, len(outside))
        curve.append((threshold, accuracy, refusal))
    return curve


def peak_rss_mb() -> float:
    """This process's peak resident memory. ru_maxrss would do, but Linux carries it over from the
    parent through fork and exec, so a child would report the benchmark's own peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Run with `python -c` in the project root; it prints one JSON line of timings and peak memory.
COLD_START = """
import json, time
start = time.perf_counter()
from knowledge.kb import KnowledgeBase
from knowledge.search import Retriever
imported = time.perf_counter()
kb = KnowledgeBase.load()
loaded = time.perf_counter()
retriever = Retriever(kb)
built = time.perf_counter()
retriever.ask("产假有多少天？")
answered = time.perf_counter()
print(json.dumps({
    "import": imported - start, "load": loaded - imported, "build": built - loaded,
    "first_ask": answered - built, "total": answered - start,
    "maxrss_mb": next(
        int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:")
    ),
}))
"""


def child_memory(total: int) -> None:
    """Run in a fresh interpreter: memory of a retriever over `total` entries."""
    kb = synthetic_kb(KnowledgeBase.load(), total)
    before = peak_rss_mb()
    retriever = Retriever(kb)
    retriever.ask("产假有多少天？")
    after = peak_rss_mb()
    print(
        json.dumps(
            {
                "maxrss_mb": after,
                "rss_growth_mb": after - before,
            }
        )
    )


def run_child(*args: str) -> dict[str, float]:
    """Run a fresh interpreter in the project root and return the JSON it prints last."""
    wall = time.perf_counter()
    output = subprocess.run(
        [sys.executable, *args], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=20_000, help="size of the synthetic knowledge base")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the questions for latency")
    parser.add_argument("--child", choices=["memory"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "memory":
        child_memory(args.entries)
        return

    eval_set = load_eval()
    kb = KnowledgeBase.load()
    print(
        f"knowledge base: {len(kb)} entries; eval: {len(eval_set.in_scope)} in scope, {len(eval_set.out_of_scope)} out of scope"
    )

    retriever = Retriever(kb)
    baseline = Baseline(kb.entries)
    calibrate_baseline(baseline, eval_set)
    ours, theirs = retriever_asker(retriever), baseline.ask
    questions = eval_set.questions or ["产假有多少天"]

    print("\n== quality on the eval set (real KB) ==")
    for name, ask in (("retriever", ours), (f"baseline (threshold {baseline.threshold:.2f})", theirs)):
        accuracy, refusal = quality(ask, eval_set)
        print(f"{name:34s} top-1 accuracy {accuracy:.3f}   refusal {refusal:.3f}")

    print("\n== ablations (each changes one thing; accuracy at THRESHOLD / refusal) ==")
    for name, ask in ablations(kb):
        accuracy, refusal = quality(ask, eval_set)
        print(f"{name:42s} top-1 accuracy {accuracy:.3f}   refusal {refusal:.3f}")

    print(f"\n== threshold curve (retriever, THRESHOLD = {retriever.threshold}) ==")
    for threshold, accuracy, refusal in threshold_curve(retriever, eval_set):
        print(f"  {threshold:.2f}  accuracy {accuracy:.3f}  refusal {refusal:.3f}")

    print("\n== latency, ms (p50 / p99) ==")
    for name, ask in (("retriever, real KB", ours), ("baseline, real KB", theirs)):
        p50, p99 = latency_ms(ask, questions, args.rounds)
        print(f"{name:34s} {p50:7.3f} / {p99:7.3f}")

    start = time.perf_counter()
    big = synthetic_kb(kb, args.entries)
    generated = time.perf_counter()
    big_retriever = Retriever(big)
    built = time.perf_counter()
    big_baseline = Baseline(big.entries)
    big_baseline.threshold = baseline.threshold
    baseline_built = time.perf_counter()
    print(
        f"\n{len(big)} entries: generated in {generated - start:.1f} s, retriever built in {built - generated:.1f} s,"
        f" baseline built in {baseline_built - built:.1f} s"
    )
    big_ours = retriever_asker(big_retriever)
    for name, ask, rounds in (
        ("retriever, synthetic", big_ours, args.rounds),
        ("baseline, synthetic", big_baseline.ask, 1),
    ):
        p50, p99 = latency_ms(ask, questions, rounds)
        print(f"{name:34s} {p50:7.3f} / {p99:7.3f}")
    for name, ask in (("retriever, synthetic", big_ours), ("baseline, synthetic", big_baseline.ask)):
        accuracy, refusal = quality(ask, eval_set)
        print(f"{name:34s} top-1 accuracy {accuracy:.3f}   refusal {refusal:.3f}")

    print("\n== cold start to first answer (fresh interpreter, real KB), s ==")
    runs = [run_child("-c", COLD_START) for _ in range(3)]
    for key in ("import", "load", "build", "first_ask", "total", "wall"):
        print(f"  {key:10s} median {statistics.median(r[key] for r in runs):.3f}")
    print(f"  peak RSS   {max(r['maxrss_mb'] for r in runs):.0f} MB (real KB, whole process)")

    memory = run_child(__file__, "--child", "memory", "--entries", str(args.entries))
    print(
        f"\n{args.entries} entries: peak RSS {memory['maxrss_mb']:.0f} MB; building the retriever"
        f" grew it by {memory['rss_growth_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
