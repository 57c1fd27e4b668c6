"""Wiring of the planner and the dispatcher to a running bot: ``install_jobs`` schedules them on PTB's
JobQueue, which only ticks them; ``Delivery`` is the pair that ``carebot reminders run-due`` uses too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from typing import Any

from bot.services import Services
from schedules.compliance import Compliance, PlanReport
from schedules.dispatcher import Dispatcher, DispatchReport, LeaderLock, Sender
from schedules.pacing import Monotonic, Sleep

log = logging.getLogger(__name__)

DISPATCH_JOB = "outbox.dispatch"
PLAN_JOB = "compliance.plan"
DISPATCH_INTERVAL = 1.0
PLAN_INTERVAL = 300.0
# A dispatch tick stops just before the next one is due, so APScheduler never has to skip one; the
# short gap between ticks is all the sending time lost (the pacer's window spans ticks).
DISPATCH_BUDGET_SHARE = 0.95


@dataclasses.dataclass
class RunReport:
    plan: PlanReport
    dispatch: DispatchReport

    def as_dict(self) -> dict[str, Any]:
        return {"plan": self.plan.as_dict(), "dispatch": self.dispatch.as_dict()}


class Delivery:
    """The compliance planner and the outbox dispatcher for one bot; only the process holding the
    dispatcher lock (PostgreSQL) plans and sends, every process may be asked to."""

    def __init__(
        self,
        services: Services,
        sender: Sender | Any,
        *,
        bot_id: int | str | None = None,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        settings = services.settings
        self.services = services
        self.compliance = Compliance.from_settings(services.db, services.clock, settings)
        # Telegram's limits are per bot token: the lock is named after the bot, not the process.
        name = f"carebot.dispatcher:{bot_id}" if bot_id is not None else "carebot.dispatcher"
        self.lock = LeaderLock(services.db, name)
        self.dispatcher = Dispatcher(
            services.db,
            services.clock,
            sender,
            rate=settings.broadcast_rate,
            tz=settings.tz,
            paid_broadcast=settings.paid_broadcast,
            paid_rate=settings.paid_broadcast_rate,
            lease=dt.timedelta(seconds=settings.outbox_lease),
            monotonic=monotonic,
            sleep=sleep,
            leader=self.lock,
        )

    async def plan(self) -> PlanReport | None:
        """Plan what is due, when this process leads (None otherwise)."""
        if not await self.lock.acquire():
            return None
        return await self.compliance.plan()

    async def dispatch(self, budget: float | None = None) -> DispatchReport:
        return await self.dispatcher.tick(budget=budget)

    async def run_due(self) -> RunReport:
        """Plan, then deliver everything due at the clock's moment; what must wait (a backoff, quiet
        hours) stays in the outbox for the next run."""
        plan = await self.plan() or PlanReport()
        dispatch = await self.dispatcher.run_until_idle()
        return RunReport(plan, dispatch)

    async def close(self) -> None:
        await self.lock.release()


def install_jobs(
    app: Any,
    *,
    dispatch_interval: float = DISPATCH_INTERVAL,
    plan_interval: float = PLAN_INTERVAL,
) -> Delivery:
    """Schedule the dispatcher tick and the planner on the application's JobQueue (call from post_init).

    Jobs are named and replaced, never duplicated; they hold no state beyond the ``Delivery`` they tick.
    """
    queue = app.job_queue
    if queue is None:
        raise RuntimeError("the JobQueue is missing: install python-telegram-bot[job-queue]")
    delivery = Delivery(app.bot_data.services, app.bot, bot_id=app.bot.token.split(":", 1)[0])
    for name in (DISPATCH_JOB, PLAN_JOB):
        for job in queue.get_jobs_by_name(name):
            job.schedule_removal()
    queue.run_repeating(
        _dispatch_job,
        interval=dispatch_interval,
        first=dispatch_interval,
        name=DISPATCH_JOB,
        data=(delivery, dispatch_interval * DISPATCH_BUDGET_SHARE),
    )
    queue.run_repeating(
        _plan_job, interval=plan_interval, first=min(5.0, plan_interval), name=PLAN_JOB, data=delivery
    )
    return delivery


async def shutdown_jobs(app: Any) -> None:
    """Stop the jobs and let go of the dispatcher lock (call from post_shutdown)."""
    queue = app.job_queue
    if queue is None:
        return
    for name in (DISPATCH_JOB, PLAN_JOB):
        for job in queue.get_jobs_by_name(name):
            data = job.data
            job.schedule_removal()
            delivery = data[0] if isinstance(data, tuple) else data
            if isinstance(delivery, Delivery):
                await delivery.close()


async def _dispatch_job(context: Any) -> None:
    delivery, budget = context.job.data
    try:
        await delivery.dispatch(budget)
    except Exception:
        # The next tick retries; the outbox lost nothing (claimed rows return after the lease).
        log.exception("dispatcher tick failed")


async def _plan_job(context: Any) -> None:
    delivery: Delivery = context.job.data
    try:
        report = await delivery.plan()
    except Exception:
        log.exception("compliance planning failed")
        return
    if report is not None and (report.messages or report.digests):
        log.info("planned %d reminder messages and %d digests", report.messages, report.digests)
