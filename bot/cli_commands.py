"""Feature subcommands of ``carebot`` (ask, leave, nearby, import, reminders, broadcast, …).

Each ``add_*`` function registers its subparser; ``REGISTRARS`` lists them in ``--help`` order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.cli_broadcast import add_broadcast
from bot.cli_directory import add_directory
from bot.cli_knowledge import add_ask, add_leave
from schedules.cli import add_reminders

REGISTRARS: list[Callable[[Any], None]] = [add_ask, add_leave, add_directory, add_reminders, add_broadcast]
