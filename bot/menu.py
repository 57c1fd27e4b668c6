"""The bot's commands: which role sees which in the menu and in /help.

Descriptions are msgids; ``post_init`` sets one menu per language and one per staff chat.
"""

from __future__ import annotations

import dataclasses

from bot.i18n import N_
from bot.storage.models import Role

EVERYONE = frozenset({None, Role.PARENT, Role.OPERATOR, Role.COMMISSION})


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    description: str
    roles: frozenset[Role | None] = EVERYONE
    staff_only: bool = False


COMMANDS: tuple[Command, ...] = (
    Command("start", N_("Start over: language, role, district")),
    Command("help", N_("What I can do for you")),
    Command("leave", N_("Work out your maternity, paternity and parental leave")),
    Command("nearby", N_("Find nearby nurseries with free places")),
    Command("check", N_("Check whether a nursery has filed (备案)")),
    Command("claim", N_("Link your nursery with its claim code"), frozenset({None, Role.OPERATOR})),
    Command("vacancy", N_("Update a nursery's free places"), frozenset({Role.OPERATOR, Role.COMMISSION})),
    Command("tasks", N_("Your nursery's deadlines and reminders"), frozenset({Role.OPERATOR})),
    Command(
        "broadcast", N_("Send guidance to chosen audiences"), frozenset({Role.COMMISSION}), staff_only=True
    ),
    Command(
        "broadcasts",
        N_("Recent broadcasts and their delivery"),
        frozenset({Role.COMMISSION}),
        staff_only=True,
    ),
    Command(
        "overdue",
        N_("Nurseries with overdue filings and reports"),
        frozenset({Role.COMMISSION}),
        staff_only=True,
    ),
    Command("stats", N_("The city's childcare figures"), frozenset({Role.COMMISSION}), staff_only=True),
    Command("settings", N_("Change language, role, district or consent")),
    Command("subscribe", N_("Receive the commission's guidance")),
    Command("unsubscribe", N_("Stop receiving the commission's guidance")),
    Command("mydata", N_("See everything stored about you")),
    Command("forget", N_("Delete everything stored about you")),
)

# Commands whose handlers exist; the menu and /help show only these.
_available: set[str] = set()


def mark_available(*names: str) -> None:
    _available.update(names)


def commands_for(role: Role | None, *, staff: bool = False) -> list[Command]:
    return [
        c
        for c in COMMANDS
        if c.name in _available
        and (role in c.roles or (staff and c.staff_only))
        and (staff or not c.staff_only)
    ]


def public_commands() -> list[Command]:
    return [c for c in COMMANDS if c.name in _available and not c.staff_only]


def staff_commands() -> list[Command]:
    return [c for c in COMMANDS if c.name in _available]
