"""`llm-planner sessions unlock`: clear a session's wrong-code lock."""

from __future__ import annotations

import getpass

from app.cli.settings import load_settings


def cmd_unlock(args) -> int:
    from app.confirmations.approvals import unlock_session
    from app.store.db import create_db_engine

    settings = load_settings()
    by = (args.by or "").strip() or getpass.getuser()
    touched = unlock_session(create_db_engine(settings.db_url), args.session, args.channel, by)
    where = f" on {args.channel}" if args.channel else ""
    if not touched:
        print(f"session {args.session}{where} has no wrong-code lock or count to clear")
        return 0
    print(f"unlocked session {args.session}{where} ({touched} row(s)): its confirmations work again")
    return 0


def add(sub) -> None:
    group = sub.add_parser("sessions", help="conversation sessions")
    actions = group.add_subparsers(dest="action", required=True)
    unlock = actions.add_parser("unlock", help="clear a session's lock after too many wrong confirmation codes")
    unlock.add_argument("session", help="the session id (the phone number on chat channels)")
    unlock.add_argument("--channel", help="only on this channel (wa, provider, meta, twilio, …)")
    unlock.add_argument("--by", help="who unlocks it (default: the system user)")
    unlock.set_defaults(func=cmd_unlock)
