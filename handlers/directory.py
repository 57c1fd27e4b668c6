"""Nurseries: /nearby with a shared location or a district, /check and "XX备案了吗", /claim, /vacancy.

The age asked in /nearby rides in the buttons' callback data, so nothing about the child is stored.
"""

from __future__ import annotations

from telegram import KeyboardButton, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.app import CareBotApp, CareBotContext
from bot.directory.categories import AgeClass
from bot.directory.repository import ClaimError, DirectoryError, NotAnOperator, VacancyError
from bot.directory.service import NearbyPage, class_label, is_filing_question
from bot.i18n import N_
from bot.menu import mark_available
from handlers.common import edit_or_reply, keyboard, reply, user_locale

ANY_AGE = "x"
AGE_CHOICES = (("9", N_("6-12 months")), ("18", N_("1-2 years")), ("30", N_("2-3 years")))
MAX_VACANCY = 200


class FilingQuestion(filters.MessageFilter):
    """Text that asks whether a named nursery has filed (备案)."""

    def filter(self, message: Message) -> bool:
        return bool(message.text) and is_filing_question(message.text or "")


def _district_rows(context: CareBotContext, age: str) -> list[list[tuple[str, str]]]:
    districts = context.services.settings.districts
    return [[(d, f"nb:d:{age}:{d}") for d in districts[i : i + 3]] for i in range(0, len(districts), 3)]


def _age(value: str) -> int | None:
    return None if value == ANY_AGE else int(value)


async def nearby_command(update: Update, context: CareBotContext) -> None:
    """Ask the child's age, then for a location or a district."""
    _locale, _, _profile = await user_locale(update, context)
    rows = [[(_(label), f"nb:a:{months}")] for months, label in AGE_CHOICES]
    rows.append([(_("Any age"), f"nb:a:{ANY_AGE}")])
    await reply(update, _("How old is the child? I'll look for a class that takes that age."), keyboard(rows))


async def age_chosen(update: Update, context: CareBotContext) -> None:
    """Ask for the location (reply keyboard) or a district (inline buttons)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _locale, _, _profile = await user_locale(update, context)
    age = query.data.removeprefix("nb:a:")
    if context.user_data is not None:
        context.user_data["nearby_age"] = age
    share = ReplyKeyboardMarkup(
        [[KeyboardButton(_("📍 Share my location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await reply(
        update, _("Share your location with the button below (it is used once and not stored)."), share
    )
    await reply(update, _("Or pick a district:"), keyboard(_district_rows(context, age)))


async def location_shared(update: Update, context: CareBotContext) -> None:
    """List the nearest nurseries to a shared location."""
    message = update.effective_message
    assert message is not None and message.location is not None
    age = (context.user_data or {}).get("nearby_age", ANY_AGE)
    await _show(
        update, context, message.location.latitude, message.location.longitude, age, 0, remove_keyboard=True
    )


async def district_chosen(update: Update, context: CareBotContext) -> None:
    """List nurseries around the middle of a district."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _locale, _, _profile = await user_locale(update, context)
    _prefix, _step, age, district = query.data.split(":", 3)
    center = await context.services.directory.district_center(district)
    if center is None:
        await reply(update, _("I have no nurseries registered in {district}.", district=district))
        return
    await _show(update, context, center[0], center[1], age, 0, district=district)


async def more(update: Update, context: CareBotContext) -> None:
    """The next page of the same search."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _prefix, _step, offset, lat, lon, age = query.data.split(":")
    await _show(update, context, float(lat), float(lon), age, int(offset))


async def _show(
    update: Update,
    context: CareBotContext,
    lat: float,
    lon: float,
    age: str,
    offset: int,
    *,
    remove_keyboard: bool = False,
    district: str | None = None,
) -> None:
    locale, _, _profile = await user_locale(update, context)
    service = context.services.directory
    try:
        page: NearbyPage = await service.nearby(lat, lon, age_months=_age(age), offset=offset)
    except ValueError:
        await reply(
            update, _("That location is not valid. Share it again with the button, or pick a district.")
        )
        return
    if not page.results:
        text = (
            _("No more nurseries within 30 km.")
            if offset
            else _("I found no nursery with a class for that age within 30 km. Pick a district instead:")
        )
        await reply(
            update, text, keyboard(_district_rows(context, age)) if not offset else ReplyKeyboardRemove()
        )
        return
    if remove_keyboard:
        await reply(update, _("Thanks, searching near you."), ReplyKeyboardRemove())
    rows = [[(f"📍 {r.name}"[:60], f"nb:v:{r.institution_id}")] for r in page.results]
    if page.has_more:
        rows.append([(_("More ▸"), f"nb:m:{offset + len(page.results)}:{lat:.5f}:{lon:.5f}:{age}")])
    await reply(
        update, service.render_nearby(page, locale, age_months=_age(age), district=district), keyboard(rows)
    )


async def venue(update: Update, context: CareBotContext) -> None:
    """Send one nursery as a venue, to open in a map."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _locale, _, _profile = await user_locale(update, context)
    institution = await context.services.directory.get(int(query.data.removeprefix("nb:v:")))
    if institution is None or update.effective_chat is None:
        await query.answer(_("This button has expired. Send /help to start again."))
        return
    await query.answer()
    await update.effective_chat.send_venue(
        latitude=institution.lat,
        longitude=institution.lon,
        title=institution.name[:100],
        address=(institution.address or institution.district or "")[:100] or institution.name[:100],
    )


async def check_command(update: Update, context: CareBotContext) -> None:
    """/check NAME: the nursery's filing (备案) status."""
    locale, _, _profile = await user_locale(update, context)
    name = " ".join(context.args or []).strip()
    if not name:
        await reply(update, _("Send the nursery's name after the command, for example: /check 小树苗托育园"))
        return
    found = await context.services.directory.filing_status(name)
    await reply(update, context.services.directory.render_filing(found, name, locale))


async def filing_question(update: Update, context: CareBotContext) -> None:
    """ "XX托育园备案了吗": the same look-up as /check."""
    message = update.effective_message
    assert message is not None
    locale, _, _profile = await user_locale(update, context)
    found = await context.services.directory.filing_status(message.text or "")
    await reply(update, context.services.directory.render_filing(found, message.text or "", locale))


async def claim_command(update: Update, context: CareBotContext) -> None:
    """/claim CODE: link an operator to their nursery."""
    _locale, _, _profile = await user_locale(update, context)
    user = update.effective_user
    assert user is not None
    code = "".join(context.args or [])
    if not code:
        await reply(
            update, _("Send the claim code the health commission gave you, for example: /claim ABCD-EFGH")
        )
        return
    try:
        institution = await context.services.directory.claim(code, user.id)
    except ClaimError as exc:
        messages = {
            "unknown": _(
                "That claim code is not valid. Check it, or ask the health commission for a new one."
            ),
            "used": _("That claim code has already been used. Ask the health commission for a new one."),
            "expired": _("That claim code has expired. Ask the health commission for a new one."),
            "revoked": _("That claim code was withdrawn. Ask the health commission for a new one."),
            "already_linked": _("You are already linked to this nursery."),
        }
        if exc.reason == "too_many" and exc.retry_at is not None:
            when = exc.retry_at.astimezone(context.services.settings.tz).strftime("%H:%M")
            text = _(
                "Several claim codes in a row did not work, so I will not try another one until {time}. "
                "Check the code in the health commission's letter, or ask them for a new one.",
                time=when,
            )
        else:
            text = messages.get(exc.reason, messages["unknown"])
        await reply(update, text)
        return
    await context.services.accounts.touch(user.id)
    await reply(
        update,
        _(
            "You are now linked to {name}. I will remind you of its filing and reporting deadlines (/tasks), "
            "and you can keep its free places current with /vacancy. /forget removes the link.",
            name=institution.name,
        ),
    )


async def vacancy_command(update: Update, context: CareBotContext) -> None:
    """Pick the class whose free places to update: an operator's own nurseries, or, for commission
    staff, the nursery named by its credit code (/vacancy CODE)."""
    _locale, _, _profile = await user_locale(update, context)
    user = update.effective_user
    assert user is not None
    services = context.services
    code = "".join(context.args or [])
    if code:
        if not await services.staff.is_staff(user.id):
            await reply(update, _("Only commission staff can open another nursery's free places."))
            return
        found = await services.directory.find_for_staff(code)
        if found is None or found.id is None:
            await reply(update, _("No nursery in the register has the credit code {code}.", code=code))
            return
        await _vacancy_card(update, context, found.id)
        return
    mine = await services.directory.operated_by(user.id)
    if not mine:
        if await services.staff.is_staff(user.id):
            await reply(
                update,
                _(
                    "To correct a nursery's free places, send /vacancy with its credit code (统一社会信用代码)."
                ),
            )
            return
        await reply(
            update,
            _("No nursery is linked to you yet. Send /claim with the code the health commission gave you."),
        )
        return
    for institution in mine[:5]:
        if institution.id is not None:
            await _vacancy_card(update, context, institution.id)


async def _vacancy_card(
    update: Update, context: CareBotContext, institution_id: int, *, edit: bool = False
) -> None:
    locale, _, _profile = await user_locale(update, context)
    institution = await context.services.directory.get(institution_id)
    if institution is None:
        return
    lines = [_("Free places at {name}:", name=institution.name)]
    rows = []
    for places in institution.classes:
        label = class_label(places.age_class, locale)
        free = "?" if places.free is None else str(places.free)
        lines.append(f"• {label}: {free} / {places.capacity}")
        rows.append(
            [
                (f"{label} −1", f"vc:{institution.id}:{places.age_class.value}:-1"),
                (f"{label} +1", f"vc:{institution.id}:{places.age_class.value}:+1"),
                ("0", f"vc:{institution.id}:{places.age_class.value}:=0"),
            ]
        )
    lines.append(_("Tap to change; every change is saved at once and dated."))
    text = "\n".join(lines)
    if edit:
        await edit_or_reply(update, text, keyboard(rows))
    else:
        await reply(update, text, keyboard(rows))


async def vacancy_button(update: Update, context: CareBotContext) -> None:
    """Apply one change of free places; only a linked operator, or commission staff, may."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _locale, _, _profile = await user_locale(update, context)
    _prefix, institution_id, class_value, change = query.data.split(":")
    service = context.services.directory
    institution = await service.get(int(institution_id))
    try:
        age_class = AgeClass(class_value)
        if institution is None:
            raise NotAnOperator("unknown nursery")
        current = institution.places(age_class).free or 0
        target = int(change[1:]) if change.startswith("=") else current + int(change)
        target = max(0, min(target, MAX_VACANCY))
        try:
            await service.update_free_places(institution.id, age_class, target, query.from_user.id)  # type: ignore[arg-type]
        except NotAnOperator:
            # Not the nursery's operator: commission staff may still correct it.
            if not await context.services.staff.is_staff(query.from_user.id):
                raise
            await service.update_free_places(
                institution.id,  # type: ignore[arg-type]
                age_class,
                target,
                query.from_user.id,
                as_staff=True,
            )
    except NotAnOperator:
        await query.answer(
            _("Only the nursery's linked operator or commission staff can change its free places."),
            show_alert=True,
        )
        return
    except (VacancyError, ValueError, DirectoryError):
        await query.answer(_("Free places must be between 0 and the class's capacity."), show_alert=True)
        return
    await query.answer(_("Saved."))
    await _vacancy_card(update, context, int(institution_id), edit=True)


def register(app: CareBotApp) -> None:
    app.add_handler(CommandHandler("nearby", nearby_command))
    app.add_handler(CommandHandler("check", check_command))
    app.add_handler(CommandHandler("claim", claim_command))
    app.add_handler(CommandHandler("vacancy", vacancy_command))
    app.add_handler(CallbackQueryHandler(age_chosen, pattern=r"^nb:a:(\d+|x)$"))
    app.add_handler(CallbackQueryHandler(district_chosen, pattern=r"^nb:d:(\d+|x):"))
    app.add_handler(CallbackQueryHandler(more, pattern=r"^nb:m:\d+:-?[\d.]+:-?[\d.]+:(\d+|x)$"))
    app.add_handler(CallbackQueryHandler(venue, pattern=r"^nb:v:\d+$"))
    app.add_handler(CallbackQueryHandler(vacancy_button, pattern=r"^vc:\d+:\w+:([+-]\d+|=\d+)$"))
    app.add_handler(MessageHandler(filters.LOCATION, location_shared))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & FilingQuestion(), filing_question))
    mark_available("nearby", "check", "claim", "vacancy")
