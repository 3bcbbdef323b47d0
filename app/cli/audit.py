"""`llm-planner audit verify|tail|archive`."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from app.audit.kinds import AuditKind
from app.cli.settings import load_settings


def cmd_audit(args) -> int:
    from app.audit import chain
    from app.store.db import create_db_engine

    if args.action == "verify" and args.archive:
        return _verify_archive(Path(args.archive))
    settings = load_settings()
    engine = create_db_engine(settings.db_url)
    if args.action == "archive":
        return _archive(engine, args)
    if args.action == "verify":
        result = chain.verify_chain(engine)
        checked, broken, checkpoint = result.checked, result.broken, result.checkpoint
        if broken is None:
            if checkpoint is None:
                print(f"audit trail intact: {checked} events, every link verified")
            else:
                print(f"audit trail intact: verified {checked} events after the checkpoint of "
                      f"{checkpoint.before.date().isoformat()} (event {checkpoint.last_event_id}, "
                      f"archived to {checkpoint.archived_to})")
            return 0
        where = f"event {broken['id']}" if broken["id"] else "the end of the trail"
        print(f"audit trail BROKEN at {where}: {broken['problem']} ({checked} events verified before it)")
        return 1
    events, _ = chain.query(engine, session_id=args.session, kind=args.kind, limit=args.n)
    for event in reversed(events):
        print(json.dumps(event, ensure_ascii=False))
    return 0


def _when(text: str) -> datetime | None:
    """A date (midnight UTC) or an ISO-8601 time (UTC when it names no zone)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _archive(engine, args) -> int:
    from app.audit.archive import ChainBroken, archive

    before = _when(args.before or "")
    if before is None:
        print("audit archive needs --before DATE (2026-11-01, or an ISO-8601 time)", file=sys.stderr)
        return 2
    out = Path(args.out or f"audit-archive-before-{before.strftime('%Y%m%dT%H%M%S')}.jsonl")
    if out.exists():
        print(f"{out} exists; choose another --out (an archive is never written over)", file=sys.stderr)
        return 2
    try:
        done = archive(engine, before, out)
    except ChainBroken as exc:
        print(f"audit trail BROKEN at event {exc.event_id}: {exc.problem}; archived "
              f"{exc.archived.events} events before it to {out}, the rest left in place", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not done.events:
        out.unlink()
        print(f"no audit events older than {before.isoformat()} to archive")
        return 0
    print(f"archived {done.events} audit events (event {done.first_id} to {done.last_id}) to {out}; "
          f"`llm-planner audit verify --archive {out}` checks the file")
    return 0


def _verify_archive(path: Path) -> int:
    from app.audit.archive import verify_archive
    from app.audit.chain import GENESIS

    try:
        result = verify_archive(path)
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"{path} is not an audit archive (not UTF-8 text)", file=sys.stderr)
        return 1
    if result.broken:
        where = f"line {result.broken['line']}" + (f" (event {result.broken['id']})" if result.broken["id"] else "")
        print(f"archive BROKEN at {where}: {result.broken['problem']} ({result.checked} events verified before it)")
        return 1
    if not result.checked:
        print(f"{path} holds no events")
        return 1
    start = "the start of the chain" if result.starts_after == GENESIS else f"hash {result.starts_after}"
    print(f"archive intact: {result.checked} events (event {result.first_id} to {result.last_id}), "
          f"every link verified, from {start} to hash {result.last_hash}")
    return 0


def add(sub) -> None:
    trail = sub.add_parser("audit", help="verify the audit hash chain, print its newest events, or "
                                         "archive its oldest")
    trail.add_argument("action", choices=["verify", "tail", "archive"])
    trail.add_argument("-n", type=int, default=20, help="tail: how many events")
    trail.add_argument("--session", help="tail: only this session")
    # A misspelt kind would match nothing and print nothing: argparse names the kinds instead.
    trail.add_argument("--kind", choices=[kind.value for kind in AuditKind], metavar="KIND",
                       help="tail: only this kind of event (e.g. tool_execution, confirmation_consumed)")
    trail.add_argument("--before", metavar="DATE", help="archive: the events older than this")
    trail.add_argument("--out", metavar="FILE", help="archive: the JSON Lines file to write (a new one)")
    trail.add_argument("--archive", metavar="FILE", help="verify: check an archive file instead")
    trail.set_defaults(func=cmd_audit)
