"""The one place that builds the python-telegram-bot Application: transport, defaults, handlers, menus.

Handler modules are registered in an explicit order; the catch-all fallbacks come last.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, CallbackContext, ContextTypes, Defaults, ExtBot
from telegram.request import BaseRequest

from bot.i18n import EN, ZH_HANS, translator
from bot.menu import Command, public_commands, staff_commands
from bot.services import Services

log = logging.getLogger(__name__)

# The token the console and tests use with the in-process Bot API; it reaches no server.
LOCAL_TOKEN = "7000000001:LOCAL-in-process-bot-api"


class BotData:
    """Application-wide data: the core services, typed."""

    def __init__(self) -> None:
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("services were not attached to the application")
        return self._services

    @services.setter
    def services(self, value: Services) -> None:
        self._services = value


class CareBotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The callback context every handler receives, with the services one attribute away."""

    @property
    def services(self) -> Services:
        return self.bot_data.services


CareBotApp = Application[ExtBot[None], CareBotContext, dict[Any, Any], dict[Any, Any], BotData, Any]


def build_application(
    services: Services,
    *,
    token: str | None = None,
    request: BaseRequest | None = None,
) -> CareBotApp:
    settings = services.settings
    builder = (
        ApplicationBuilder()
        .token(token or settings.token or LOCAL_TOKEN)
        .context_types(ContextTypes(context=CareBotContext, bot_data=BotData))
        .defaults(Defaults(tzinfo=settings.tz))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram_api_url:
        builder = builder.base_url(settings.telegram_api_url)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app: CareBotApp = builder.build()
    app.bot_data.services = services
    _register_handlers(app)
    return app


def _register_handlers(app: CareBotApp) -> None:
    # Imported here so that the core never imports telegram handlers at module load.
    from handlers import (
        broadcast,
        commission,
        directory,
        errors,
        fallback,
        leave,
        onboarding,
        privacy,
        questions,
        tasks,
    )

    # One handler group: PTB runs the first matching handler of a group, so the order below is the
    # precedence. Commands and buttons first, then free text and locations, the catch-alls last.
    for module in (onboarding, privacy, leave, broadcast, commission, directory, tasks, questions, fallback):
        module.register(app)
    app.add_error_handler(errors.on_error)


def _menu(commands: list[Command], locale: str) -> list[BotCommand]:
    _ = translator(locale)
    return [BotCommand(c.name, _(c.description)[:256]) for c in commands]


async def _post_init(app: CareBotApp) -> None:
    """Set the command menus: one per language for everyone, a fuller one in each staff member's chat."""
    services = app.bot_data.services
    await services.answers.warm_up()
    try:
        await app.bot.set_my_commands(_menu(public_commands(), ZH_HANS), scope=BotCommandScopeDefault())
        await app.bot.set_my_commands(
            _menu(public_commands(), EN), scope=BotCommandScopeDefault(), language_code="en"
        )
        for admin_id in sorted(services.settings.admin_ids):
            await app.bot.set_my_commands(
                _menu(staff_commands(), ZH_HANS), scope=BotCommandScopeChat(admin_id)
            )
    except TelegramError as exc:
        # A menu is a convenience; the bot must still start when Telegram refuses it.
        log.warning("could not set the command menus: %s", exc.__class__.__name__)
    if app.job_queue is not None:
        # What is sent unasked ticks on the JobQueue (DESIGN principle 2): the outbox dispatcher, the
        # planners and the broadcast campaigns. Here rather than in register(): the console starts the
        # Application too, and must not send or edit anything on the bot's behalf.
        from handlers import broadcast
        from schedules.jobs import install_jobs

        install_jobs(app)
        broadcast.install_jobs(app)


async def _post_shutdown(app: CareBotApp) -> None:
    from schedules.jobs import shutdown_jobs

    await shutdown_jobs(app)
