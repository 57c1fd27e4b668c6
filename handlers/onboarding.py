"""/start, /help and /settings: language, role, district and consent.

Choices travel in the buttons' callback data until consent, so nothing beyond the language is stored
before the person agrees, and a restart in the middle of onboarding loses nothing.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.accounts import AccountError, Profile
from bot.app import CareBotApp, CareBotContext
from bot.i18n import LANGUAGE_NAMES, LOCALES, N_, Translate, translator
from bot.menu import commands_for, mark_available
from bot.storage.models import Role
from handlers.common import edit_or_reply, keyboard, locale_for, reply, user_locale

NO_DISTRICT = "-"
ROLE_LABELS = {
    Role.PARENT: N_("I'm a parent or carer"),
    Role.OPERATOR: N_("I run a nursery"),
    Role.COMMISSION: N_("I work at the health commission"),
}


def language_keyboard(prefix: str, current: str | None) -> object:
    return keyboard(
        [[(("✓ " if loc == current else "") + LANGUAGE_NAMES[loc], f"{prefix}:{loc}")] for loc in LOCALES]
    )


def role_keyboard(_: Translate, prefix: str) -> object:
    rows = [[(_(ROLE_LABELS[role]), f"{prefix}:{role.value}")] for role in Role]
    if prefix == "ob:r":
        rows.append([(_("Skip: I only want to ask questions"), "ob:skip")])
    return keyboard(rows)


def district_keyboard(_: Translate, districts: tuple[str, ...], prefix: str) -> object:
    buttons = [(name, f"{prefix}:{name}") for name in districts]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append([(_("Not in this city / rather not say"), f"{prefix}:{NO_DISTRICT}")])
    return keyboard(rows)


def role_name(_: Translate, role: Role | None) -> str:
    names = {
        Role.PARENT: _("parent or carer"),
        Role.OPERATOR: _("nursery operator"),
        Role.COMMISSION: _("commission staff"),
    }
    return names[role] if role else _("not chosen")


def help_text(_: Translate, profile: Profile | None, *, staff: bool) -> str:
    role = profile.role if profile and profile.consented else None
    lines = [_("Here is what I can do for you:"), ""]
    lines += [f"/{c.name} — {_(c.description)}" for c in commands_for(role, staff=staff)]
    lines += ["", _("Or just write your question, for example: 育儿假有几天？ or 托育机构怎么备案？")]
    if role is None:
        lines += ["", _("Send /start to choose your role and district for more.")]
    return "\n".join(lines)


async def start(update: Update, context: CareBotContext) -> None:
    """Greet the person and ask for their language."""
    user = update.effective_user
    if user is None:
        return
    profile = await context.services.accounts.touch(user.id)
    locale = locale_for(update, profile)
    _ = translator(locale)
    text = _(
        "Hello, I'm CareBot (托育助手), the {city} health commission's assistant for families and nurseries "
        "with children under 3.\n\nFirst, which language would you like?",
        city=context.services.settings.city,
    )
    await reply(update, text, language_keyboard("ob:l", locale))


async def choose_language(update: Update, context: CareBotContext) -> None:
    """Save the language, then ask for the role (or confirm, when changed from /settings)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    prefix, locale = query.data.rsplit(":", 1)
    if locale not in LOCALES:
        return
    profile = await context.services.accounts.set_language(query.from_user.id, locale)
    _ = translator(locale)
    if prefix == "st:l":
        await edit_or_reply(update, _("Language changed to {name}.", name=LANGUAGE_NAMES[locale]))
        await reply(update, help_text(_, profile, staff=await context.services.staff.is_staff(profile.id)))
        return
    await edit_or_reply(update, _("Which of these describes you?"), role_keyboard(_, "ob:r"))


async def choose_role(update: Update, context: CareBotContext) -> None:
    """Check the role is allowed, then ask for the district (onboarding) or save it (settings)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    locale, _, profile = await user_locale(update, context)
    prefix, value = query.data.rsplit(":", 1)
    try:
        role = Role(value)
    except ValueError:
        return
    settings = context.services.settings
    if role is Role.COMMISSION and not await context.services.staff.is_staff(query.from_user.id):
        await edit_or_reply(
            update,
            _(
                "The commission role is only for health commission staff. If you work there, ask your "
                "administrator to add your Telegram id {user_id} to the staff list; meanwhile, choose another role.",
                user_id=query.from_user.id,
            ),
            role_keyboard(_, prefix),
        )
        return
    if prefix == "st:r" and profile is not None and profile.consented:
        await context.services.accounts.set_role(query.from_user.id, role)
        await edit_or_reply(update, _("Your role is now: {role}.", role=role_name(_, role)))
        return
    await edit_or_reply(
        update,
        _("Which district of {city} are you in?", city=settings.city),
        district_keyboard(_, settings.districts, f"ob:d:{role.value}"),
    )


async def choose_district(update: Update, context: CareBotContext) -> None:
    """Ask for consent before storing the role and district."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _locale, _, profile = await user_locale(update, context)
    parts = query.data.split(":", 3)
    if parts[0] == "st":
        # A /settings change: only for someone who consented, and only to a district of the city or none.
        district = parts[2] if len(parts) == 3 else ""
        valid = district == NO_DISTRICT or district in context.services.settings.districts
        if profile is None or not profile.consented or not valid:
            await edit_or_reply(update, _("That choice is no longer valid. Please send /start again."))
            return
        chosen = None if district == NO_DISTRICT else district
        await context.services.accounts.set_district(query.from_user.id, chosen)
        await edit_or_reply(update, _("Your district is now: {district}.", district=chosen or _("not given")))
        return
    if len(parts) != 4:
        await edit_or_reply(update, _("That choice is no longer valid. Please send /start again."))
        return
    role, district = parts[2], parts[3]
    if district != NO_DISTRICT and district not in context.services.settings.districts:
        return
    text = _(
        "Before I keep your choices, I need your consent.\n\n"
        "I will store: your Telegram id, language, role ({role}) and district ({district}). "
        "They are used only to answer you, to send the reminders and guidance you can turn off, and for "
        "anonymous city figures. You can see them with /mydata and delete them with /forget at any time.\n\n"
        "Do you agree?",
        role=role_name(_, Role(role)),
        district=district if district != NO_DISTRICT else _("not given"),
    )
    await edit_or_reply(
        update,
        text,
        keyboard([[(_("I agree"), f"ob:c:{role}:{district}")], [(_("No, store nothing more"), "ob:n")]]),
    )


async def give_consent(update: Update, context: CareBotContext) -> None:
    """Store role and district with the consent, and show what the bot can do."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    _locale, _, _profile = await user_locale(update, context)
    _prefix, _step, role_value, district = query.data.split(":", 3)
    try:
        profile = await context.services.accounts.complete_onboarding(
            query.from_user.id,
            role=Role(role_value),
            district=None if district == NO_DISTRICT else district,
        )
    except (AccountError, ValueError):
        await edit_or_reply(update, _("That choice is no longer valid. Please send /start again."))
        return
    await edit_or_reply(update, _("Thank you, all set."))
    await reply(update, help_text(_, profile, staff=await context.services.staff.is_staff(profile.id)))


async def decline(update: Update, context: CareBotContext) -> None:
    """Respect a refusal (or a skip): keep only the language."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    _locale, _, profile = await user_locale(update, context)
    await edit_or_reply(
        update,
        _(
            "Understood: I keep nothing but your language. You can still ask me questions, work out your leave "
            "with /leave and find nurseries with /nearby. Send /start any time to change this."
        ),
    )


async def help_command(update: Update, context: CareBotContext) -> None:
    """List what the bot can do for the person's role."""
    _locale, _, profile = await user_locale(update, context)
    user = update.effective_user
    staff = bool(user and await context.services.staff.is_staff(user.id))
    await reply(update, help_text(_, profile, staff=staff))


async def settings_command(update: Update, context: CareBotContext) -> None:
    """Show the current choices with buttons to change each."""
    locale, _, profile = await user_locale(update, context)
    if profile is None or not profile.consented:
        await reply(
            update,
            _("Language: {language}\nNothing else is stored about you.", language=LANGUAGE_NAMES[locale]),
            keyboard(
                [
                    [(_("Change language"), "st:lang")],
                    [(_("Choose role and district"), "st:onboard")],
                ]
            ),
        )
        return
    text = _(
        "Your settings:\nLanguage: {language}\nRole: {role}\nDistrict: {district}\nGuidance from the commission: {broadcasts}",
        language=LANGUAGE_NAMES[locale],
        role=role_name(_, profile.role),
        district=profile.district or _("not given"),
        broadcasts=_("on") if profile.broadcasts_enabled else _("off"),
    )
    await reply(
        update,
        text,
        keyboard(
            [
                [(_("Change language"), "st:lang"), (_("Change role"), "st:role")],
                [(_("Change district"), "st:district")],
                [(_("Turn guidance off") if profile.broadcasts_enabled else _("Turn guidance on"), "st:bc")],
                [(_("Withdraw consent"), "st:withdraw")],
            ]
        ),
    )


async def settings_menu(update: Update, context: CareBotContext) -> None:
    """Open the picker a /settings button asks for."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await query.answer()
    locale, _, profile = await user_locale(update, context)
    user_id = query.from_user.id
    action = query.data.split(":", 1)[1]
    consented = profile is not None and profile.consented
    if action == "lang":
        await edit_or_reply(update, _("Choose your language:"), language_keyboard("st:l", locale))
    elif action == "onboard" or (action in ("role", "district") and not consented):
        await edit_or_reply(update, _("Which of these describes you?"), role_keyboard(_, "ob:r"))
    elif action == "role":
        await edit_or_reply(update, _("Choose your role:"), role_keyboard(_, "st:r"))
    elif action == "district":
        await edit_or_reply(
            update,
            _("Which district of {city} are you in?", city=context.services.settings.city),
            district_keyboard(_, context.services.settings.districts, "st:d"),
        )
    elif action == "bc" and profile is not None:
        updated = await context.services.accounts.set_broadcasts(user_id, not profile.broadcasts_enabled)
        await edit_or_reply(
            update,
            _("You will receive the commission's guidance.")
            if updated.broadcasts_enabled
            else _("You will no longer receive the commission's guidance. /subscribe turns it back on."),
        )
    elif action == "withdraw":
        await context.services.accounts.withdraw_consent(user_id)
        await edit_or_reply(
            update, _("Consent withdrawn: your role and district are deleted; only your language is kept.")
        )
    else:  # a button of an older /settings (the profile has changed since)
        await edit_or_reply(update, _("That choice is no longer valid. Please send /start again."))


def register(app: CareBotApp) -> None:
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("settings", settings_command))
    app.add_handler(CallbackQueryHandler(choose_language, pattern=r"^(ob|st):l:"))
    app.add_handler(CallbackQueryHandler(choose_role, pattern=r"^(ob|st):r:"))
    app.add_handler(CallbackQueryHandler(choose_district, pattern=r"^(ob|st):d:"))
    app.add_handler(CallbackQueryHandler(give_consent, pattern=r"^ob:c:"))
    app.add_handler(CallbackQueryHandler(decline, pattern=r"^ob:(n|skip)$"))
    app.add_handler(
        CallbackQueryHandler(settings_menu, pattern=r"^st:(lang|onboard|role|district|bc|withdraw)$")
    )
    mark_available("start", "help", "settings")
