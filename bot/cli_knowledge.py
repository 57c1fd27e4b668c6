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

    if args.batch:
        stream = sys.stdin if args.batch == "-" else _open(args.batch)
        questions = [line.rstrip("\n") for line in stream if line.strip()]
    elif args.question:
        questions = [args.question]
    else:
        raise CliError("give a question, or --batch FILE with one question per line")
    service = AnswerService(None, SystemClock())
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


def _open(path: str) -> Any:
    from bot.cli import CliError

    file = Path(path)
    if not file.is_file():
        raise CliError(f"{path}: no such file")
    try:
        return file.open(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None
