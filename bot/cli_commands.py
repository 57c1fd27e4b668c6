"""Feature subcommands of ``carebot`` (ask, leave, nearby, import, reminders, broadcast, …).

Each ``add_*`` function registers its subparser; ``REGISTRARS`` lists them in ``--help`` order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.cli_knowledge import add_ask, add_leave

REGISTRARS: list[Callable[[Any], None]] = [add_ask, add_leave]
