"""``carebot run``: the bot with its scheduler, polling by default or behind a webhook.

The webhook server (PTB's, on tornado) refuses requests that lack ``CAREBOT_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from telegram import Update

from bot.app import build_application
from bot.services import Services
from bot.settings import Settings

log = logging.getLogger("carebot.run")


def run_bot(settings: Settings) -> int:
    services = Services.build(settings)
    app = build_application(services)
    if settings.webhook_url:
        if not settings.webhook_secret:
            log.error(
                "CAREBOT_WEBHOOK_SECRET must be set in webhook mode, so that forged updates are refused"
            )
            return 2
        path = urlparse(settings.webhook_url).path.lstrip("/")
        log.info("starting in webhook mode on %s:%s/%s", settings.webhook_listen, settings.webhook_port, path)
        app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        log.info("starting in polling mode")
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0
