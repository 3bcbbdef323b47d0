"""`llm-planner audit verify|tail`."""

from __future__ import annotations

import json

from app.audit.kinds import AuditKind
from app.cli.settings import load_settings


def cmd_audit(args) -> int:
    from app.audit import chain
    from app.store.db import create_db_engine

    settings = load_settings()
    engine = create_db_engine(settings.db_url)
    if args.action == "verify":
        checked, broken = chain.verify(engine)
        if broken is None:
            print(f"audit trail intact: {checked} events, every link verified")
            return 0
        where = f"event {broken['id']}" if broken["id"] else "the end of the trail"
        print(f"audit trail BROKEN at {where}: {broken['problem']} ({checked} events verified before it)")
        return 1
    events, _ = chain.query(engine, session_id=args.session, kind=args.kind, limit=args.n)
    for event in reversed(events):
        print(json.dumps(event, ensure_ascii=False))
    return 0


def add(sub) -> None:
    trail = sub.add_parser("audit", help="verify the audit hash chain, or print its newest events")
    trail.add_argument("action", choices=["verify", "tail"])
    trail.add_argument("-n", type=int, default=20, help="tail: how many events")
    trail.add_argument("--session", help="tail: only this session")
    # A misspelt kind would match nothing and print nothing: argparse names the kinds instead.
    trail.add_argument("--kind", choices=[kind.value for kind in AuditKind], metavar="KIND",
                       help="tail: only this kind of event (e.g. tool_execution, confirmation_consumed)")
    trail.set_defaults(func=cmd_audit)
