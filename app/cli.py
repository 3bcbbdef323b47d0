"""`llm-planner`: serve, migrate, tools."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from pydantic import ValidationError


def _settings():
    from app.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc'])).upper() or 'settings'}: {e['msg']}" for e in exc.errors()]
        sys.exit("Invalid configuration (environment or .env):\n" + "\n".join(lines))


def cmd_serve(args) -> int:
    import uvicorn

    from app.store.db import create_db_engine
    from app.store.migrate import SchemaBehind, ensure_current

    settings = _settings()
    from app.executor.policy import PolicyError, load_policy
    from app.operator import OperatorFileError, load_operator

    try:  # the operator's own files: wrong ones stop the start with a clear message
        load_policy(settings.policy_file)
        load_operator(settings.operator_file)
    except (PolicyError, OperatorFileError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    engine = create_db_engine(settings.db_url)
    try:
        ensure_current(engine, settings.db_url, migrate_sqlite=settings.is_sqlite)
    except SchemaBehind as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"Cannot reach the database at {engine.url!r}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    # log_config=None: uvicorn's own loggers go through our (JSON) handlers too.
    uvicorn.run("app.main:app", host=args.host or settings.host, port=args.port or settings.port,
                workers=args.workers, log_config=None, proxy_headers=True)
    return 0


def cmd_migrate(args) -> int:
    from app.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.db_url)
    print("database schema is up to date")
    return 0


def cmd_tools(args) -> int:
    from app.executor.registry import load_registry

    settings = _settings()
    registry = load_registry(settings.plugins_dir)
    if args.json:
        print(json.dumps(registry.catalogue(), indent=2))
        return 0
    for item in registry.catalogue():
        blocked = sorted(set(item["permissions"]) & settings.blocked)
        note = f"  [blocked: {', '.join(blocked)}]" if blocked else ""
        print(f"{item['name']}  tag={item['tag']}  permissions={','.join(item['permissions'])}{note}")
        print(f"    {item['description']}")
        print(f"    args: {json.dumps(item['args_schema'].get('properties', {}))}")
    return 0


def cmd_eval(args) -> int:
    from pathlib import Path

    from app.evals import as_json, load_suite, report, run_suite
    from app.executor.registry import load_registry
    from app.llm import build_model
    from app.planner.planner import Planner

    settings = _settings()
    cases = load_suite(Path(args.suite))
    model = build_model(settings)
    planner = Planner(model, load_registry(settings.plugins_dir), settings.planner_max_retries)
    results, summary = run_suite(planner, cases)
    name = f"{model.provider}:{getattr(model, 'model', None)} at {model.url}"
    document = as_json(results, summary, name)
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(f"model {name}\n")
        print(report(results, summary))
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2, ensure_ascii=False))
    return 2 if all(r.error for r in results) else 0


def cmd_audit(args) -> int:
    from app import audit
    from app.store.db import create_db_engine

    settings = _settings()
    engine = create_db_engine(settings.db_url)
    if args.action == "verify":
        checked, broken = audit.verify(engine)
        if broken is None:
            print(f"audit trail intact: {checked} events, every link verified")
            return 0
        where = f"event {broken['id']}" if broken["id"] else "the end of the trail"
        print(f"audit trail BROKEN at {where}: {broken['problem']} ({checked} events verified before it)")
        return 1
    events, _ = audit.query(engine, session_id=args.session, kind=args.kind, limit=args.n)
    for event in reversed(events):
        print(json.dumps(event, ensure_ascii=False))
    return 0


def cmd_purge(args) -> int:
    from app.inbox import Inbox
    from app.store.db import create_db_engine

    settings = _settings()
    days = args.days or settings.dedupe_keep_days
    if days < 7:
        print("dedupe rows are kept at least 7 days", file=sys.stderr)
        return 2
    removed = Inbox(create_db_engine(settings.db_url), settings.inbox_lease_sec, 0).purge(days)
    print(f"removed {removed} answered deliveries older than {days} days")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-planner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the HTTP service on HOST:PORT")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser("migrate", help="bring DB_URL to the current schema (alembic upgrade head)")
    migrate.set_defaults(func=cmd_migrate)
    tools = sub.add_parser("tools", help="the tool catalogue: name, tag, permissions, arguments")
    tools.add_argument("--json", action="store_true")
    tools.set_defaults(func=cmd_tools)
    evaluate = sub.add_parser("eval", help="run a suite of instructions through the configured model")
    evaluate.add_argument("suite", help="a TOML suite, e.g. evals/base_tools.toml")
    evaluate.add_argument("--format", choices=["table", "json"], default="table")
    evaluate.add_argument("--json", metavar="FILE", help="also write the JSON report to FILE")
    evaluate.set_defaults(func=cmd_eval)
    trail = sub.add_parser("audit", help="verify the audit hash chain, or print its newest events")
    trail.add_argument("action", choices=["verify", "tail"])
    trail.add_argument("-n", type=int, default=20, help="tail: how many events")
    trail.add_argument("--session", help="tail: only this session")
    trail.add_argument("--kind", help="tail: only this kind of event")
    trail.set_defaults(func=cmd_audit)
    purge = sub.add_parser("purge", help="delete answered webhook deliveries older than N days (>= 7)")
    purge.add_argument("--days", type=int)
    purge.set_defaults(func=cmd_purge)
    args = parser.parse_args(argv)
    if args.command == "serve":
        from app.logs import configure

        configure(_settings())
    else:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
