"""The JobQueue wiring: named jobs installed once however often, and the ticks they run delivering
through the application's bot (called directly: tests do not wait for the scheduler)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from bot.app import CareBotApp
from bot.clock import FakeClock
from bot.services import Services
from bot.transport import InProcessBotAPI
from schedules import jobs
from schedules.outbox import NewMessage, Outbox, OutboxState
from tests.conftest import ADMIN_ID
from tests.schedules_support import SHANGHAI, add_nursery, add_user


@dataclasses.dataclass
class FakeJobContext:
    job: Any


async def test_jobs_are_named_and_replaced_not_duplicated(app: CareBotApp) -> None:
    first = jobs.install_jobs(app)
    second = jobs.install_jobs(app)
    assert app.job_queue is not None
    dispatch = [j for j in app.job_queue.get_jobs_by_name(jobs.DISPATCH_JOB) if not j.removed]
    plan = [j for j in app.job_queue.get_jobs_by_name(jobs.PLAN_JOB) if not j.removed]
    assert len(dispatch) == 1 and len(plan) == 1
    data: Any = dispatch[0].data
    assert data[0] is second and first is not second
    await jobs.shutdown_jobs(app)
    names = (jobs.DISPATCH_JOB, jobs.PLAN_JOB)
    assert not [j for j in app.job_queue.jobs() if j.name in names and not j.removed]


async def test_the_ticks_plan_and_deliver_through_the_applications_bot(
    services: Services, app: CareBotApp, api: InProcessBotAPI
) -> None:
    await add_user(services.db, 1001, language="en")
    await add_nursery(services.db, operators=(1001,))
    clock = services.clock
    assert isinstance(clock, FakeClock)
    clock.set(dt.datetime(2027, 6, 16, 9, tzinfo=SHANGHAI))
    await Outbox(services.db, services.clock).enqueue(
        NewMessage(key="hello", recipient_id=2002, kind="test", text="hello")
    )
    delivery = jobs.install_jobs(app)
    queue = app.job_queue
    assert queue is not None
    plan_job, dispatch_job = (queue.get_jobs_by_name(n)[0] for n in (jobs.PLAN_JOB, jobs.DISPATCH_JOB))
    await jobs._plan_job(FakeJobContext(plan_job))
    await jobs._dispatch_job(FakeJobContext(dispatch_job))
    assert [c.text for c in api.sent(2002)] == ["hello"]
    assert any("Enterprise annual report" in c.text for c in api.sent(1001))
    # The commission's weekly digest too: last year's year-end report is overdue (nobody marked it done).
    assert len(api.sent(ADMIN_ID)) == 1
    counts = await delivery.dispatcher.outbox.counts()
    assert counts[OutboxState.SENT] == 3 and counts[OutboxState.PENDING] == 0
    await jobs.shutdown_jobs(app)
