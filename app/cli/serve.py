"""`llm-planner serve`."""

from __future__ import annotations

import sys


def cmd_serve(args) -> int:
    import uvicorn

    from app.cli.settings import load_settings
    from app.store.db import create_db_engine
    from app.store.migrate import SchemaBehind, ensure_current
    from app.tools.operator_file import OperatorFileError, load_operator
    from app.tools.policy import PolicyError, load_policy

    settings = load_settings()
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


def add(sub) -> None:
    serve = sub.add_parser("serve", help="start the HTTP service on HOST:PORT")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)
