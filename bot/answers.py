"""Answers to free-text questions from the curated knowledge base, rendered for one person.

The core of "ask": picks the entry (or abstains), adds the source and verify lines, converts to the
reader's script, and keeps what could not be answered (text and time only) for the commission.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import threading

from sqlmodel import func, select

from bot.clock import Clock
from bot.i18n import EN, N_, in_script, normalize_locale, translator
from bot.leave_plans import LeaveService
from bot.storage.db import Database
from bot.storage.models import AnswerFeedback, UnansweredQuestion
from bot.textutil import clean
from knowledge.kb import Entry, KnowledgeBase
from knowledge.search import Answer, Retriever

# Longer messages get a request for a shorter question rather than an answer.
MAX_QUESTION_CHARS = 1000
HOTLINE = "12320"
# Questions are kept for review only up to this length; the rest of a pasted essay adds nothing.
STORED_QUESTION_LIMIT = 500
RELATED_LIMIT = 3

_GREETING = re.compile(r"^(你好|您好|嗨|哈喽|hello|hi|hey|早上好|晚上好|在吗|在不在)[!！。.~～\s]*$", re.I)
_THANKS = re.compile(
    r"^(谢谢|多谢|感谢|謝謝|多謝|thanks|thank you|thx|好的|ok|okay|收到)[!！。.~～\s]*$", re.I
)


@dataclasses.dataclass(frozen=True)
class Topic:
    """An entry offered as a button: its id and title in the reader's script."""

    entry_id: str
    title: str


@dataclasses.dataclass(frozen=True)
class RenderedAnswer:
    """What a person reads for one question, plus what a channel needs to offer follow-ups."""

    text: str
    abstained: bool
    entry_id: str | None
    score: float
    sources: list[dict[str, str]]
    related: list[Topic]
    kind: str = "answer"  # "answer", "leave", "abstain", "greeting", "thanks", "empty"

    def to_dict(self) -> dict[str, object]:
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "entry_id": self.entry_id,
            "sources": self.sources,
            "score": round(self.score, 4),
        }


def source_line(entry: Entry, locale: str) -> str:
    _ = translator(locale)
    document = entry.source.document.strip("《》")
    number = f" {entry.source.number}" if entry.source.number else ""
    return _(
        "Source: 《{document}》{number}, in effect from {effective}; checked {as_of}.",
        document=document,
        number=number,
        effective=entry.effective,
        as_of=entry.as_of,
    )


def verify_line(locale: str) -> str:
    _ = translator(locale)
    return _(
        "⚠️ This figure has not been checked against the official text: please verify with your local "
        "health commission or human-resources bureau (or call 12320)."
    )


class AnswerService:
    """Answers questions; the retriever is built once, on first use or at start-up."""

    def __init__(
        self,
        db: Database | None,
        clock: Clock,
        kb: KnowledgeBase | None = None,
        *,
        leave: LeaveService | None = None,
        tz: dt.tzinfo = dt.UTC,
    ) -> None:
        self._db = db
        self._clock = clock
        self._kb = kb
        self._leave = leave
        self._tz = tz
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            with self._lock:
                if self._retriever is None:
                    self._retriever = Retriever(self._kb or KnowledgeBase.load())
        return self._retriever

    async def warm_up(self) -> None:
        """Build the index off the event loop so the first question is answered at full speed."""
        await asyncio.to_thread(lambda: self.retriever)

    def entry(self, entry_id: str) -> Entry | None:
        return self.retriever.kb.get(entry_id)

    def render_entry(self, entry: Entry, locale: str, score: float = 1.0) -> RenderedAnswer:
        locale = normalize_locale(locale)
        _ = translator(locale)
        parts = []
        if locale == EN:
            parts.append(_("(Answer from the knowledge base, which is written in Chinese.)"))
        parts.append(in_script(entry.answer.strip(), locale))
        parts.append("")
        parts.append(in_script(source_line(entry, locale), locale))
        if not entry.verified:
            parts.append(verify_line(locale))
        related = [
            Topic(other.id, in_script(other.title, locale))
            for other in self.retriever.related(entry, limit=RELATED_LIMIT)
        ]
        return RenderedAnswer(
            text="\n".join(parts),
            abstained=False,
            entry_id=entry.id,
            score=score,
            sources=[
                {
                    "document": entry.source.document,
                    "number": entry.source.number,
                    "effective": entry.effective,
                    "as_of": entry.as_of,
                    "confidence": str(entry.confidence),
                }
            ],
            related=related,
        )

    async def answer(self, question: str, locale: str | None, *, record: bool = True) -> RenderedAnswer:
        """Answer one question, or say plainly that the bot does not know."""
        locale = normalize_locale(locale)
        _ = translator(locale)
        text = clean(question)
        if not text:
            return RenderedAnswer(_("Please write your question in words."), True, None, 0.0, [], [], "empty")
        if len(text) > MAX_QUESTION_CHARS:
            # Retrieval reads only the start of a message (MAX_QUERY_CHARS): an answer to the first lines of
            # a text this long would be a guess. Also keeps the leave parser off long texts.
            return RenderedAnswer(
                _(
                    "That message is too long for me to answer well ({n} characters). Please ask one "
                    "question in a sentence or two, or send /help.",
                    n=len(text),
                ),
                True, None, 0.0, [], [], "too_long",
            )  # fmt: skip
        if _GREETING.match(text):
            return RenderedAnswer(
                _("Hello! Ask me about leave, subsidies, nurseries, check-ups or vaccines, or send /help."),
                False, None, 0.0, [], [], "greeting",
            )  # fmt: skip
        if _THANKS.match(text):
            return RenderedAnswer(
                _("You're welcome. Ask me anything else any time."), False, None, 0.0, [], [], "thanks"
            )
        if self._leave is not None:
            leave_question = self._leave.parse_question(text)
            if leave_question is not None:
                today = self._clock.now().astimezone(self._tz).date()
                body = self._leave.answer_question(leave_question, today, locale)
                return RenderedAnswer(body, False, None, 1.0, [], [], "leave")
        result: Answer = await asyncio.to_thread(self.retriever.ask, text)
        if not result.abstained and result.entry is not None:
            return self.render_entry(result.entry, locale, result.score)
        if record and self._db is not None:
            await self._record_unanswered(text)
        nearest = [Topic(e.id, in_script(e.title, locale)) for e, _s in result.alternatives[:RELATED_LIMIT]]
        lines = [
            _("Sorry, I don't have a verified answer to that."),
            _(
                "For questions about children's health and care, call the public health hotline {hotline}, "
                "or ask your district health commission.",
                hotline=HOTLINE,
            ),
        ]
        if nearest:
            lines.append(_("These topics may be close to what you asked:"))
        return RenderedAnswer("\n".join(lines), True, None, result.score, [], nearest, "abstain")

    async def _record_unanswered(self, text: str) -> None:
        assert self._db is not None
        async with self._db.session() as session:
            session.add(UnansweredQuestion(text=text[:STORED_QUESTION_LIMIT], at=self._clock.now()))

    async def feedback(self, entry_id: str, helpful: bool) -> bool:
        """Store a vote; False when the entry does not exist (an old or forged button)."""
        if self.entry(entry_id) is None or self._db is None:
            return False
        async with self._db.session() as session:
            session.add(AnswerFeedback(entry_id=entry_id, helpful=helpful, at=self._clock.now()))
        return True

    async def unanswered(self, limit: int = 50) -> list[UnansweredQuestion]:
        assert self._db is not None
        async with self._db.session() as session:
            rows = await session.exec(
                select(UnansweredQuestion).order_by(UnansweredQuestion.id.desc()).limit(limit)  # type: ignore[union-attr]
            )
            return list(rows)

    async def feedback_counts(self) -> dict[str, tuple[int, int]]:
        assert self._db is not None
        async with self._db.session() as session:
            rows = await session.exec(
                select(AnswerFeedback.entry_id, AnswerFeedback.helpful, func.count()).group_by(
                    AnswerFeedback.entry_id,
                    AnswerFeedback.helpful,  # type: ignore[arg-type]
                )
            )
            counts: dict[str, tuple[int, int]] = {}
            for entry_id, helpful, n in rows:
                up, down = counts.get(entry_id, (0, 0))
                counts[entry_id] = (up + n, down) if helpful else (up, down + n)
            return counts


# Labels used by the channels, kept here so every channel says the same thing.
HELPFUL = N_("👍 Helpful")
NOT_HELPFUL = N_("👎 Not helpful")
