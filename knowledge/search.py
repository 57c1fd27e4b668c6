"""Question answering over the knowledge base: BM25 retrieval with a confidence and abstention.
Finds the entry a user's question is about, or refuses when no entry explains the question."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import bm25s
import numpy as np
import numpy.typing as npt

from knowledge.kb import Entry, KnowledgeBase
from knowledge.text import normalize
from knowledge.tokenize import Analysis, Analyzer, default_analyzer

# bm25s sets its own logger to DEBUG on import and logs every index build; the application decides.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# The confidence is the share of the question's information (idf-weighted tokens) that the best
# entry contains, so the threshold reads "at least 35% of what was asked must be found in one entry".
# Calibrated with the threshold curve that bench/bench_ask.py prints for tests/data/kb_eval/*.yaml
# (243 questions in scope, 57 out of scope; 233 entries): from 0.28 to 0.32 top-1 accuracy is 0.967
# and refusal 0.930; from 0.34 to 0.36 accuracy 0.951-0.955 and refusal 0.982; past 0.44 accuracy
# drops under 0.93. 0.35 keeps both at least 0.05 above the 0.90 targets, and a second, harder set of
# 60 near-domain questions the knowledge base does not answer (baby illnesses, school, other
# subsidies, other taxes) is refused 90-92% of the time there against 83% at 0.30. A wrong policy
# answer costs more than a refusal, which still offers the nearest topics, so the higher end wins.
THRESHOLD: Final = 0.35

# Longer messages are pasted documents or spam; their head is enough to find a topic, and scoring
# the whole of a 10,000-character paste would cost more than the latency budget.
MAX_QUERY_CHARS: Final = 300
ALTERNATIVES: Final = 3
NATIONAL: Final = "national"
# Below this confidence an entry is not worth offering even as a "nearest topic" button.
MIN_ALTERNATIVE_SCORE: Final = 0.2

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Answer:
    """The result of one question: the entry to answer with, or an abstention."""

    entry: Entry | None
    score: float
    abstained: bool
    alternatives: list[tuple[Entry, float]] = field(default_factory=list)


@dataclass(frozen=True)
class RetrieverConfig:
    """How the index is built and scored; the defaults are the measured best on the eval set.

    bench/bench_ask.py prints what undoing each choice costs (its "ablations").
    """

    # Each question, the title and the keywords as separate documents, an entry scoring as its best
    # one; or one document of all the entry's text. One document per entry measured better (top-1
    # 0.951 against 0.922): people's wordings borrow words from several of an entry's questions.
    per_question: bool = False
    # Weight of the whole-entry document added to the best single document (per_question only).
    entry_weight: float = 0.3
    # Weight of the pinyin-bigram index added to the word index.
    sound_weight: float = 0.3
    # The confidence is the larger of the word coverage and this share of the sound coverage, so a
    # question with a homophone typo is not refused for its misspelt word.
    sound_trust: float = 0.8
    # Correct homophone typos of domain terms in questions before searching (see tokenize.Speller).
    spell: bool = True
    k1: float = 1.2
    b: float = 0.75
    # Score factors by place: an entry of a place the question names, of another place, and of any
    # place when the question names none (national entries keep 1).
    named_region: float = 1.3
    other_region: float = 0.6
    unnamed_region: float = 0.75
    threshold: float = THRESHOLD


class _Index:
    """One BM25 index over documents that belong to entries, scored per entry as the maximum."""

    def __init__(
        self, docs: Sequence[Sequence[str]], owners: Sequence[int], n_entries: int, k1: float, b: float
    ):
        # bm25s cannot index a corpus with an empty document list; an empty token keeps shapes right.
        corpus = [list(d) if d else [""] for d in docs]
        self.bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        self.bm25.index(corpus, show_progress=False)
        self.vocab: dict[str, int] = {k: v for k, v in self.bm25.vocab_dict.items() if k}
        owner_array = np.asarray(owners, dtype=np.int64)
        # Documents are stored entry by entry, so an entry's documents are one contiguous run.
        if len(owner_array) and np.any(np.diff(owner_array) < 0):
            raise ValueError("documents must be grouped by entry")
        self.starts = np.searchsorted(owner_array, np.arange(n_entries))
        self.has_docs = np.isin(np.arange(n_entries), owner_array)
        self.n_entries = n_entries

    def entry_scores(self, tokens: Sequence[str]) -> FloatArray | None:
        ids = [self.vocab[t] for t in dict.fromkeys(tokens) if t in self.vocab]
        if not ids:
            return None
        doc_scores = self.bm25.get_scores_from_ids(ids)
        per_entry: FloatArray = np.maximum.reduceat(doc_scores, np.minimum(self.starts, len(doc_scores) - 1))
        per_entry[~self.has_docs] = 0.0
        return per_entry


class _Coverage:
    """How much of a question an entry explains: the idf-weighted share of the question's tokens."""

    def __init__(self, entry_tokens: Sequence[Sequence[str]]):
        # Each entry's distinct token ids, all in one flat array: a frozenset per entry would add
        # tens of thousands of objects for the garbage collector to walk on every full collection,
        # which showed as 10 ms stalls in the p99 latency at 20,000 entries.
        self.ids: dict[str, int] = {}
        flat: list[int] = []
        offsets = [0]
        for tokens in entry_tokens:
            flat.extend(sorted({self.ids.setdefault(t, len(self.ids)) for t in tokens}))
            offsets.append(len(flat))
        self.flat = np.asarray(flat, dtype=np.int32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        n = len(entry_tokens)
        df = np.bincount(self.flat, minlength=len(self.ids)).tolist()
        self.idf = {t: _idf(df[i], n) for t, i in self.ids.items()}
        # A token no entry has is weighed as the rarest known token: unexplained words in a question
        # are the best sign that it is about something the knowledge base does not cover.
        self.unknown_idf = _idf(0, max(n, 1))

    def weights(self, tokens: Sequence[str]) -> dict[str, float]:
        return {t: self.idf.get(t, self.unknown_idf) for t in dict.fromkeys(tokens)}

    def share(self, weights: dict[str, float], position: int) -> float:
        total = sum(weights.values())
        if not total:
            return 0.0
        have = set(self.flat[self.offsets[position] : self.offsets[position + 1]].tolist())
        return sum(w for t, w in weights.items() if self.ids.get(t, -1) in have) / total


class Retriever:
    """Answers questions from a knowledge base. Built once; `ask` is safe from many threads."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        analyzer: Analyzer | None = None,
        config: RetrieverConfig | None = None,
    ) -> None:
        self.kb = kb
        self.entries: tuple[Entry, ...] = kb.entries
        self.analyzer = analyzer if analyzer is not None else default_analyzer()
        self.config = config if config is not None else RetrieverConfig()
        self.threshold = self.config.threshold
        # related() depends only on the entry and the limit: worked out once per pair, on first use.
        self._related: dict[tuple[str, int], list[Entry]] = {}
        cfg = self.config

        word_docs: list[tuple[str, ...]] = []
        sound_docs: list[tuple[str, ...]] = []
        owners: list[int] = []
        entry_words: list[tuple[str, ...]] = []
        entry_sounds: list[tuple[str, ...]] = []
        for position, entry in enumerate(self.entries):
            units = [self.analyzer.analyze(text) for text in _entry_texts(entry)]
            whole = Analysis(
                words=tuple(t for u in units for t in u.words),
                sounds=tuple(t for u in units for t in u.sounds),
            )
            entry_words.append(whole.words)
            entry_sounds.append(whole.sounds)
            for unit in units if cfg.per_question else [whole]:
                if unit.words or unit.sounds:
                    word_docs.append(unit.words)
                    sound_docs.append(unit.sounds)
                    owners.append(position)

        n = len(self.entries)
        self._words = _Index(word_docs, owners, n, cfg.k1, cfg.b) if word_docs else None
        self._sounds = (
            _Index(sound_docs, owners, n, cfg.k1, cfg.b) if sound_docs and cfg.sound_weight else None
        )
        self._whole = (
            _Index(entry_words, range(n), n, cfg.k1, cfg.b)
            if cfg.per_question and cfg.entry_weight and n
            else None
        )

        self._places = self.analyzer.vocabulary
        regions = [normalize(e.region) for e in self.entries]
        self._regional = np.array([r != NATIONAL for r in regions], dtype=bool)
        self._region_masks = {
            r: np.array([x == r for x in regions], dtype=bool) for r in set(regions) if r != NATIONAL
        }

        self._word_coverage = _Coverage(entry_words)
        self._sound_coverage = _Coverage(entry_sounds)

    def ask(self, text: str) -> Answer:
        """Answer a question, or abstain when the best entry explains too little of it.

        Entries are ranked by BM25 (words, plus pinyin bigrams at a lower weight) times a factor
        for the place asked about. The confidence of an entry is the idf-weighted share of the
        question's distinct words that occur anywhere in it (questions, title, keywords); a word no
        entry has weighs as the rarest. Below the threshold (see THRESHOLD) the answer abstains but
        still lists the nearest entries as alternatives.
        """
        analysis = self.analyzer.analyze(text[:MAX_QUERY_CHARS], spell=self.config.spell)
        scored = self._scored(analysis)
        if not scored:
            return Answer(entry=None, score=0.0, abstained=True)
        best, best_score = scored[0]
        if best_score < self.threshold:
            nearest = [(e, s) for e, s in scored if s >= MIN_ALTERNATIVE_SCORE][:ALTERNATIVES]
            return Answer(entry=None, score=best_score, abstained=True, alternatives=nearest)
        others = [(e, s) for e, s in scored[1:] if s >= MIN_ALTERNATIVE_SCORE][:ALTERNATIVES]
        return Answer(entry=best, score=best_score, abstained=False, alternatives=others)

    def _scored(self, analysis: Analysis) -> list[tuple[Entry, float]]:
        """The best candidate entries with their confidence, best first."""
        ranked = self._rank(analysis.words, analysis.sounds, ALTERNATIVES + 1)
        word_weights = self._word_coverage.weights(analysis.words)
        sound_weights = self._sound_coverage.weights(analysis.sounds)
        trust = self.config.sound_trust
        return [
            (
                self.entries[position],
                max(
                    self._word_coverage.share(word_weights, position),
                    trust * self._sound_coverage.share(sound_weights, position),
                ),
            )
            for position, _ in ranked
        ]

    def related(self, entry: Entry, limit: int = 5) -> list[Entry]:
        """Follow-up entries: the entry's own `related` list first, then its nearest neighbours."""
        key = (entry.id, limit)
        found = self._related.get(key)
        if found is None:
            found = self._related[key] = self._find_related(entry, limit)
        return list(found)

    def _find_related(self, entry: Entry, limit: int) -> list[Entry]:
        chosen: list[Entry] = []
        seen = {entry.id}
        for entry_id in entry.related:
            other = self.kb.get(entry_id)
            if other is not None and other.id not in seen:
                chosen.append(other)
                seen.add(other.id)
        if len(chosen) < limit:
            analysis = self.analyzer.analyze(" ".join((entry.title, *entry.questions)))
            for i, _ in self._rank(analysis.words, analysis.sounds, limit + len(seen)):
                other = self.entries[i]
                if other.id not in seen:
                    chosen.append(other)
                    seen.add(other.id)
        return chosen[:limit]

    def _rank(self, words: Sequence[str], sounds: Sequence[str], top: int) -> list[tuple[int, float]]:
        """Entry positions with a positive score and the score, best first."""
        cfg = self.config
        total: FloatArray | None = None
        for index, tokens, weight in (
            (self._words, words, 1.0),
            (self._whole, words, cfg.entry_weight),
            (self._sounds, sounds, cfg.sound_weight),
        ):
            if index is None or not tokens:
                continue
            scores = index.entry_scores(tokens)
            if scores is None:
                continue
            total = scores * weight if total is None else total + scores * weight
        if total is None:
            return []
        total = total * self._region_factors(words)
        top = min(top, len(total))
        candidates = np.argpartition(-total, top - 1)[:top] if top < len(total) else np.arange(len(total))
        # Ties go to the entry listed first, so answers do not depend on numpy's partition order.
        order = sorted(candidates.tolist(), key=lambda i: (-float(total[i]), i))
        return [(i, float(total[i])) for i in order if total[i] > 0]

    def _region_factors(self, words: Sequence[str]) -> FloatArray:
        """Score factors by place: the question's places (and those they lie in) first."""
        cfg = self.config
        mentioned = [w for w in dict.fromkeys(words) if w in self._places.places]
        factors = np.ones(len(self.entries), dtype=np.float32)
        if not mentioned:
            factors[self._regional] = cfg.unnamed_region
            return factors
        named = {p for place in mentioned for p in self._places.enclosing(place)}
        factors[self._regional] = cfg.other_region
        for region, mask in self._region_masks.items():
            if region in named:
                factors[mask] = cfg.named_region
            elif not named.isdisjoint(self._places.enclosing(region)):
                # A place inside the one asked about: 厦门 for a question about 福建.
                factors[mask] = 1.0
        return factors


def _idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _entry_texts(entry: Entry) -> list[str]:
    texts = [*entry.questions, entry.title]
    if entry.keywords:
        texts.append(" ".join(entry.keywords))
    if entry.region and entry.region != "national":
        texts[-1] = f"{texts[-1]} {entry.region}"
    return texts
