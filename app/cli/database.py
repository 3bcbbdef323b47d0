"""`llm-planner migrate` and `llm-planner purge`."""

from __future__ import annotations

import sys

from app.cli.settings import load_settings


def cmd_migrate(args) -> int:
    from app.startup_checks import unwritable_data
    from app.store.migrate import SchemaAhead, describe_db_error, upgrade

    settings = load_settings()
    problems = unwritable_data(settings)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    try:
        upgrade(settings.db_url)
    except SchemaAhead as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except Exception as exc:  # a database that cannot be used: one line, not a traceback
        print(describe_db_error(exc, settings.db_url), file=sys.stderr)
        return 1
    print("database schema is up to date")
    return 0


def cmd_purge(args) -> int:
    from app.conversations.purge import purge_messages
    from app.deliveries.inbox import Inbox
    from app.store.db import create_db_engine
    from app.store.migrate import describe_db_error

    settings = load_settings()
    days = args.days or settings.dedupe_keep_days
    if days < 7:
        print("dedupe rows are kept at least 7 days", file=sys.stderr)
        return 2
    engine = create_db_engine(settings.db_url)
    try:
        removed = Inbox(engine, settings.inbox_lease_sec, 0).purge(days)
        print(f"removed {removed} answered deliveries older than {days} days")
        keep = settings.messages_keep_days
        if keep:
            print(f"removed {purge_messages(engine, keep)} conversation messages older than {keep} days")
        else:
            print("conversation messages are kept for ever (MESSAGES_KEEP_DAYS=0)")
    except Exception as exc:  # one line, as from migrate
        print(describe_db_error(exc, settings.db_url), file=sys.stderr)
        return 1
    return 0


def add(sub) -> None:
    migrate = sub.add_parser("migrate", help="bring DB_URL to the current schema (alembic upgrade head)")
    migrate.set_defaults(func=cmd_migrate)
    purge = sub.add_parser("purge", help="delete answered webhook deliveries older than N days (>= 7) "
                                                "and conversation messages older than MESSAGES_KEEP_DAYS")
    purge.add_argument("--days", type=int)
    purge.set_defaults(func=cmd_purge)
