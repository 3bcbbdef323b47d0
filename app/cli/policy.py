"""`llm-planner policy grant|revoke|show`: permissions changed while the service runs."""

from __future__ import annotations

import getpass
import sys

from app.cli.settings import load_settings

SUBJECT_FLAGS = (("key", "keys"), ("agent", "agents"), ("session", "sessions"), ("channel", "channels"))


def _subject(args):
    from app.tools.policy import Subject

    for flag, subject in SUBJECT_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            return Subject(subject), value
    raise AssertionError("argparse requires one subject")


def cmd_change(args) -> int:
    from app.policy.changes import BadChange, make_change
    from app.store.db import create_db_engine
    from app.tools.registry import load_registry

    settings = load_settings()
    subject, name = _subject(args)
    by = (args.by or "").strip() or getpass.getuser()
    engine = create_db_engine(settings.db_url)
    try:
        change_id = make_change(engine, args.action, subject, name, args.tool, by)
    except BadChange as exc:
        print(f"policy {args.action}: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    where = f"{subject.value}.{name}"
    done = "granted to" if args.action == "grant" else "revoked from"
    print(f"{args.tool} {done} {where} by {by} (change #{change_id}); every node applies it within seconds")
    if load_registry(settings.plugins_dir).get(args.tool) is None:
        print(f"warning: no installed tool is called {args.tool!r}", file=sys.stderr)
    return 0


def _rules(policy) -> list[str]:
    from datetime import datetime

    now, lines = datetime.now().astimezone(), []
    for (subject, name), rule in sorted(policy.rules.items()):
        described = "  ".join(f"{key}={','.join(value) if isinstance(value, list) else value}"
                              for key, value in rule.describe().items())
        idle = "" if rule.in_force(now) else "  (outside its hours or past its until: permits nothing now)"
        lines.append(f"  [{subject.value}.{name}]  {described or '(no restriction)'}{idle}")
    return lines or ["  (none)"]


def cmd_show(args) -> int:
    from app.policy import repository
    from app.store.db import create_db_engine
    from app.tools.policy import Policy, PolicyError, load_policy

    settings = load_settings()
    problem = None
    try:
        file_policy = load_policy(settings.policy_file)
    except PolicyError as exc:  # the changes are still worth seeing
        file_policy, problem = Policy(), str(exc)
    engine = create_db_engine(settings.db_url)
    try:
        history = repository.history(engine)
    finally:
        engine.dispose()
    print(f"POLICY_FILE: {settings.policy_file or '(not set)'}")
    print(f"  cannot be read: {problem}; a running service keeps the last good rules it read" if problem
          else "\n".join(_rules(file_policy)))
    print("changes in the database (oldest first, each over the one before):")
    for row in history:
        print(f"  #{row.id} {row.created_at:%Y-%m-%d %H:%M:%S}Z  {row.action} {row.tool}  "
              f"{row.subject}.{row.name}  by {row.changed_by}")
    if not history:
        print("  (none)")
    if problem is None:
        print("in force now (the file's rules with the changes):")
        print("\n".join(_rules(file_policy.with_changes(repository.as_changes(history)))))
    return 1 if problem else 0


def add(sub) -> None:
    group = sub.add_parser("policy", help="tool permissions changed while the service runs")
    actions = group.add_subparsers(dest="action", required=True)
    for action, text in (("grant", "lift a tool from a subject's deny (and add it to its allow, if it has one)"),
                         ("revoke", "take a tool from a subject's allow (if it has one), else deny it")):
        change = actions.add_parser(action, help=text)
        subject = change.add_mutually_exclusive_group(required=True)
        subject.add_argument("--key", help="an API_KEYS name")
        subject.add_argument("--agent", help="an agent profile name")
        subject.add_argument("--session", help="a session id (the phone number on chat channels)")
        subject.add_argument("--channel", help="a channel (web, api, wa, task, …)")
        change.add_argument("--tool", required=True, help="the tool's name")
        change.add_argument("--by", help="who makes the change, for the audit trail (default: the system user)")
        change.set_defaults(func=cmd_change)
    show = actions.add_parser("show", help="the file's rules, the database's changes, and what is in force")
    show.set_defaults(func=cmd_show)
