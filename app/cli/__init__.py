"""`llm-planner`: serve, worker, migrate, tools, eval, audit, purge, task, confirmations, confirm, sessions."""

from __future__ import annotations

import argparse
import logging
import sys

from sqlalchemy.exc import DBAPIError

from app.cli import agents as agents_cli  # agents: list | launch | stop | logs
from app.cli import (
    audit,
    confirmations,
    database,
    doctor,
    policy,
    serve,
    sessions,
    tasks,
    tools,
    worker,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-planner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (serve, worker, database, tools, audit, tasks, confirmations, sessions):
        group.add(sub)
    for group in (policy, doctor):  # dynamic permissions and running 24/7
        group.add(sub)
    # memory: llm-planner memory list|export|forget
    from app.cli import memory
    memory.add(sub)
    # MCP: `llm-planner mcp trust|status|serve`
    from app.cli import mcp as mcp_cli
    mcp_cli.add(sub)
    agents_cli.add(sub)
    args = parser.parse_args(argv)
    if args.command in ("serve", "worker"):
        from app.cli.settings import load_settings
        from app.observability.logs import configure

        settings = load_settings()
        try:
            configure(settings)
        except OSError as exc:  # LOG_FILE in a folder this user cannot write, say
            print(f"LOG_FILE {settings.log_file}: cannot be written ({exc.strerror or exc})", file=sys.stderr)
            return 1
    else:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except DBAPIError as exc:  # any command on a database it cannot use: one line, never a traceback
        from app.cli.settings import load_settings
        from app.store.migrate import describe_db_error

        print(describe_db_error(exc, load_settings().db_url), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
