"""``carebot ask`` and ``carebot leave``: the knowledge base and the leave calculator from the shell.

One JSON object per line with ``--json``, for scripts and for checking the answers in bulk.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings


def add_ask(sub: Any) -> None:
    p = sub.add_parser(
        "ask",
        help="answer questions from the knowledge base",
        description="Answer a question (or a file of questions, one per line) from the knowledge base.",
    )
    p.add_argument("question", nargs="?", help="the question, in Chinese or English")
    p.add_argument(
        "--batch", metavar="FILE", help="a file with one question per line ('-' for standard input)"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: answer, abstained, entry_id, sources, score",
    )
    p.add_argument(
        "--language", default="zh_Hans", help="render for this interface language (zh_Hans, zh_Hant, en)"
    )
    p.set_defaults(handler=cmd_ask)


async def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from bot.answers import AnswerService
    from bot.cli import CliError
    from bot.clock import SystemClock
    from bot.leave_plans import LeaveService

    if args.batch:
        stream = sys.stdin if args.batch == "-" else _open(args.batch)
        questions = [line.rstrip("\n") for line in stream if line.strip()]
    elif args.question:
        questions = [args.question]
    else:
        raise CliError("give a question, or --batch FILE with one question per line")
    service = AnswerService(None, SystemClock(), leave=LeaveService(), tz=settings.tz)
    for question in questions:
        answer = await service.answer(question, args.language, record=False)
        if args.json:
            print(json.dumps({"question": question, **answer.to_dict()}, ensure_ascii=False))
        else:
            if len(questions) > 1:
                print(f"? {question}")
            print(answer.text)
            print()
    return 0


def add_leave(sub: Any) -> None:
    p = sub.add_parser(
        "leave",
        help="maternity, paternity and parental leave for a province",
        description=(
            "Work out the leave plan for a birth: maternity leave with its parts and dates, paternity "
            "(nursing) leave and parental leave, each with its regulation. Unverified figures are marked."
        ),
    )
    p.add_argument("--province", required=True, help="the provincial region, e.g. 浙江, 广东省, Sichuan")
    p.add_argument("--birth-date", required=True, help="birth or due date, e.g. 2026-03-05")
    p.add_argument(
        "--child-order", type=int, default=1, help="1 for a first child, 2 for a second … (default 1)"
    )
    p.add_argument("--babies", type=int, default=1, help="number of babies born at once (default 1)")
    p.add_argument("--difficult", action="store_true", help="a difficult birth certified by the hospital")
    p.add_argument("--start", help="the first day of leave, when not the birth date (up to 15 days before)")
    p.add_argument("--language", default="zh_Hans", help="zh_Hans, zh_Hant or en for the text output")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    p.set_defaults(handler=cmd_leave)


async def cmd_leave(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli import CliError
    from bot.leave_plans import LeaveService, input_error_text, render_plan
    from knowledge.leave import LeaveInputError, parse_date

    service = LeaveService()
    try:
        birth_date = parse_date(args.birth_date)
        start = parse_date(args.start) if args.start else None
        plan = service.plan(
            args.province,
            birth_date,
            child_order=args.child_order,
            babies=args.babies,
            difficult=args.difficult,
            start=start,
        )
    except LeaveInputError as exc:
        raise CliError(input_error_text(exc, args.language)) from None
    if args.json:
        print(json.dumps(plan.to_dict(), ensure_ascii=False))
    else:
        print(render_plan(plan, args.language))
    return 0


def _open(path: str) -> Any:
    from bot.cli import CliError

    file = Path(path)
    if not file.is_file():
        raise CliError(f"{path}: no such file")
    try:
        return file.open(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
