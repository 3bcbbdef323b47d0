"""`llm-planner memory list|export|forget --who WHO`: what a person asked the assistant to
remember, read and deleted from the terminal. WHO is a session id or a sender id."""

from __future__ import annotations

import getpass
import json
import sys

from app.cli.settings import load_settings


def _service():
    from app.memory.service import MemoryService
    from app.store.db import create_db_engine

    return MemoryService(create_db_engine(load_settings().db_url))


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def cmd_list(args) -> int:
    found = _service().listed(args.who)
    if not found:
        print(f"no memories of {args.who}", file=sys.stderr)
    for item in found:
        print(f"{item['id']}  {item['created_at']:%Y-%m-%d %H:%M}  {item['channel']:<8} {_one_line(item['text'])}")
    return 0


def cmd_export(args) -> int:
    for item in _service().listed(args.who):
        print(json.dumps({**item, "created_at": item["created_at"].isoformat()}, ensure_ascii=False))
    return 0


def cmd_forget(args) -> int:
    service = _service()
    found = service.listed(args.who, args.id)
    if not found:
        which = f"memory {args.id}" if args.id is not None else "memories"
        print(f"{args.who} has no {which}", file=sys.stderr)
        return 2 if args.id is not None else 0
    if not args.yes:
        what = f"memory {args.id}" if args.id is not None else f"all {len(found)} memories"
        if not sys.stdin.isatty():
            print(f"deleting {what} of {args.who} needs --yes when not on a terminal", file=sys.stderr)
            return 2
        answer = input(f"Delete {what} of {args.who}? This cannot be undone. [y/N] ")
        if answer.strip().lower() not in ("y", "yes", "s", "si", "sí"):
            print("nothing deleted")
            return 1
    gone = service.forget_all(args.who, args.id, by=getpass.getuser())
    print(f"deleted {gone} memor{'y' if gone == 1 else 'ies'} of {args.who}")
    return 0


def add(sub) -> None:
    group = sub.add_parser("memory", help="what people asked the assistant to remember")
    actions = group.add_subparsers(dest="action", required=True)
    who = "the session id (web, API) or the sender id (the phone number on chat channels)"
    listing = actions.add_parser("list", help="a person's memories, oldest first")
    listing.add_argument("--who", required=True, help=who)
    listing.set_defaults(func=cmd_list)
    export = actions.add_parser("export", help="a person's memories as JSON Lines on standard output")
    export.add_argument("--who", required=True, help=who)
    export.set_defaults(func=cmd_export)
    forget = actions.add_parser("forget", help="delete a person's memories (all, or one with --id)")
    forget.add_argument("--who", required=True, help=who)
    forget.add_argument("--id", type=int, help="only this memory")
    forget.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")
    forget.set_defaults(func=cmd_forget)
