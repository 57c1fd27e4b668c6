"""Message templates of the outbox, rendered when a row is sent so that the text speaks the recipient's
language and counts days from the moment of sending, not from the moment it was planned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import zoneinfo
from collections.abc import Callable
from typing import Any

from babel.dates import format_date as babel_format_date

from bot.i18n import Translate, normalize_locale, translator

# Modules that register templates; imported on first use so the dispatcher needs no import of them.
PROVIDERS = ("schedules.compliance",)


@dataclasses.dataclass(frozen=True)
class Rendered:
    """What to send: text, an optional inline keyboard (Bot API shape) and parse mode."""

    text: str
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None


@dataclasses.dataclass(frozen=True)
class RenderContext:
    """Who the message is for and when it goes out."""

    locale: str
    now: dt.datetime
    tz: zoneinfo.ZoneInfo

    # Cached: a coalesced reminder asks for these once per line, and the context is fixed per message.
    @functools.cached_property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()

    @functools.cached_property
    def _(self) -> Translate:
        return translator(self.locale)

    def date(self, value: dt.date) -> str:
        return format_date(value, self.locale)


# A renderer returns None when there is nothing left worth sending; the row is then cancelled.
Renderer = Callable[[dict[str, Any], RenderContext], Rendered | None]

_registry: dict[str, Renderer] = {}
_loaded = False


class UnknownTemplate(LookupError):
    pass


def template(name: str) -> Callable[[Renderer], Renderer]:
    """Register a renderer under ``name`` (what the outbox row's ``template`` column holds)."""

    def register(renderer: Renderer) -> Renderer:
        _registry[name] = renderer
        return renderer

    return register


def render(name: str, params: dict[str, Any] | None, context: RenderContext) -> Rendered | None:
    global _loaded
    if not _loaded:
        for module in PROVIDERS:
            importlib.import_module(module)
        _loaded = True
    renderer = _registry.get(name)
    if renderer is None:
        raise UnknownTemplate(name)
    return renderer(params or {}, context)


@functools.lru_cache(maxsize=4096)
def format_date(value: dt.date, locale: str) -> str:
    """A date the way the recipient writes it: 2027年1月15日, or January 15, 2027."""
    return babel_format_date(value, format="long", locale=normalize_locale(locale))


@template("message")
def render_message(params: dict[str, Any], context: RenderContext) -> Rendered:
    """One msgid with its arguments: ``{"msgid": "...", "args": {...}}``."""
    args = params.get("args") or {}
    return Rendered(context._(str(params["msgid"]), **args))
