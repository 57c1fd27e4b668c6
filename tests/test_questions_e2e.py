"""End to end: free-text questions answered from the knowledge base through the real Application."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.services import Services
from bot.storage.models import AnswerFeedback, UnansweredQuestion
from knowledge.kb import KnowledgeBase
from knowledge.text import to_traditional
from tests.conftest import ChatFactory


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def _feedback_entry(buttons: list[dict[str, str]]) -> str:
    votes = [b["callback_data"] for b in buttons if b["callback_data"].startswith("fb:1:")]
    assert votes, buttons
    return votes[0].removeprefix("fb:1:")


async def test_question_gets_sourced_answer(chat: ChatFactory, kb: KnowledgeBase) -> None:
    calls = await chat(3001).send("国家规定的产假一共多少天？")
    reply = calls[-1]
    entry = kb.get(_feedback_entry(reply.buttons))
    assert entry is not None and "产假" in entry.title + " ".join(entry.questions)
    assert entry.answer.strip()[:30] in reply.text
    assert entry.source.document.strip("《》") in reply.text
    assert entry.as_of in reply.text
    # Follow-up questions are offered as buttons that open other entries.
    topics = [b["callback_data"] for b in reply.buttons if b["callback_data"].startswith("q:")]
    assert 1 <= len(topics) <= 3
    follow = await chat(3001).press(topics[0])
    other = kb.get(topics[0].removeprefix("q:"))
    assert other is not None and other.answer.strip()[:30] in follow[-1].text


async def test_memory_entry_carries_verify_line(chat: ChatFactory, kb: KnowledgeBase) -> None:
    memory = next(e for e in kb if not e.verified)
    calls = await chat(3002).press_data(f"q:{memory.id}")
    assert "核实" in calls[-1].text or "verify" in calls[-1].text


async def test_out_of_scope_is_refused_with_hotline(chat: ChatFactory, services: Services) -> None:
    calls = await chat(3003).send("帮我推荐一部好看的科幻电影")
    assert "12320" in calls[-1].text
    assert not any(b["callback_data"].startswith("fb:") for b in calls[-1].buttons)
    async with services.db.session() as session:
        kept = list(await session.exec(select(UnansweredQuestion)))
    assert [q.text for q in kept] == ["帮我推荐一部好看的科幻电影"]


async def test_traditional_question_gets_traditional_answer(
    chat: ChatFactory, services: Services, kb: KnowledgeBase
) -> None:
    session = chat(3004, "zh-hant")
    calls = await session.send("託育機構的乳兒班最多收幾個孩子？")
    entry = kb.get(_feedback_entry(calls[-1].buttons))
    assert entry is not None
    assert to_traditional(entry.answer.strip()[:30]) in calls[-1].text


async def test_feedback_is_stored_once(chat: ChatFactory, services: Services) -> None:
    session = chat(3005)
    calls = await session.send("育儿补贴每年能领多少钱")
    entry_id = _feedback_entry(calls[-1].buttons)
    after = await session.press(f"fb:1:{entry_id}")
    assert any(c.method == "answerCallbackQuery" for c in after)
    edits = [c for c in after if c.method == "editMessageReplyMarkup"]
    assert edits and not any(b["callback_data"].startswith("fb:") for b in edits[-1].buttons)
    # The follow-up questions stay.
    follow_ups = [b["callback_data"] for b in calls[-1].buttons if b["callback_data"].startswith("q:")]
    assert follow_ups and [b["callback_data"] for b in edits[-1].buttons] == follow_ups
    async with services.db.session() as s:
        votes = list(await s.exec(select(AnswerFeedback)))
    assert [(v.entry_id, v.helpful) for v in votes] == [(entry_id, True)]
    # A forged vote for an entry that does not exist is not stored.
    await session.press_data("fb:0:no-such-entry")
    async with services.db.session() as s:
        assert len(list(await s.exec(select(AnswerFeedback)))) == 1


async def test_greeting_is_not_a_refusal(chat: ChatFactory, services: Services) -> None:
    calls = await chat(3006, "en").send("hello")
    assert "12320" not in calls[-1].text and "/help" in calls[-1].text
    async with services.db.session() as s:
        assert list(await s.exec(select(UnansweredQuestion))) == []
