"""`llm-planner confirmations list|cancel` and `llm-planner confirm ID`: an operator's
decisions on parked calls, by the confirmation's id (what `list` shows)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from app.cli.settings import load_settings


def _operator(name: str | None) -> str:
    return (name or "").strip() or getpass.getuser()


def _runtime():
    """The runtime that runs an approved call, or None when a bad policy file stops it (said)."""
    from app.runtime import Runtime
    from app.tools.policy import PolicyError

    try:
        return Runtime(load_settings())
    except PolicyError as exc:
        print(str(exc), file=sys.stderr)
        return None


def confirmation_id(text: str) -> int:
    """The id `confirmations list` shows: a positive whole number."""
    if not text.strip().isdigit() or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} is not a confirmation id (the number "
                                         "`llm-planner confirmations list` shows)")
    return int(text)


def cmd_list(args) -> int:
    from app.confirmations.approvals import pending
    from app.store.db import create_db_engine

    settings = load_settings()
    found = pending(create_db_engine(settings.db_url), args.session, everything=args.all)
    if not found:
        print("no pending confirmations" if not args.all else "no confirmations")
        return 0
    for row in found:
        state = f"  [{row.status}{' by ' + row.resolved_by if row.resolved_by else ''}]" if args.all else ""
        print(f"{row.id}  {row.channel}  {row.session_id}  {row.tool_name}  "
              f"expires {row.expires_at.isoformat(timespec='seconds')}{state}")
        print(f"    args: {json.dumps(row.args, ensure_ascii=False)}")
        print("    preview: " + row.preview.replace("\n", "\n             "))
    return 0


def cmd_cancel(args) -> int:
    from app.confirmations.approvals import NotPending, reject

    runtime, by = _runtime(), _operator(args.by)
    if runtime is None:
        return 1
    try:
        decided = reject(runtime, args.id, by, args.reason)
    except NotPending as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"rejected {decided.row.tool_name} ({args.id}) of session {decided.row.session_id} "
          f"on {decided.row.channel}, by {by}")
    return 0


def cmd_confirm(args) -> int:
    from app.confirmations.approvals import NotPending, approve

    runtime, by = _runtime(), _operator(args.by)
    if runtime is None:
        return 1
    try:
        decided, execution = approve(runtime, args.id, by)
    except NotPending as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if execution is None:
        print(f"approved {decided.row.tool_name} ({args.id}) of task {decided.row.session_id}, by {by}: "
              "the task's worker runs it next, in the task's folder")
        return 0
    print(f"approved {execution.tool_name} ({args.id}) of session {decided.row.session_id} "
          f"on {decided.row.channel}, by {by}: {execution.status}")
    if execution.error:
        print(f"    error: {execution.error}")
    elif execution.output is not None:
        print(f"    output: {json.dumps(execution.output, ensure_ascii=False)[:2000]}")
    return 0 if execution.status == "success" else 1


def add(sub) -> None:
    group = sub.add_parser("confirmations", help="the parked calls waiting for a confirmation")
    actions = group.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="pending confirmations: id, channel, session, tool, args, "
                                              "preview, expiry")
    listing.add_argument("--session", help="only this session")
    listing.add_argument("--all", action="store_true", help="every state, not only the pending ones")
    listing.set_defaults(func=cmd_list)
    cancel = actions.add_parser("cancel", help="reject a pending confirmation: its call never runs")
    cancel.add_argument("id", type=confirmation_id, help="the confirmation's id, as `confirmations list` shows it")
    cancel.add_argument("--by", help="who rejects it (default: the system user)")
    cancel.add_argument("--reason")
    cancel.set_defaults(func=cmd_cancel)

    confirm = sub.add_parser("confirm", help="approve a pending confirmation by its id: its call runs once")
    confirm.add_argument("id", type=confirmation_id, help="the confirmation's id, as `confirmations list` shows it")
    confirm.add_argument("--by", help="who approves it (default: the system user)")
    confirm.set_defaults(func=cmd_confirm)
