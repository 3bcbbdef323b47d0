"""`llm-planner`: serve, worker, migrate, tools, eval, audit, purge, task, confirmations, confirm, sessions."""

from __future__ import annotations

import argparse
import logging
import sys

from app.cli import (
    audit,
    confirmations,
    database,
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
    args = parser.parse_args(argv)
    if args.command in ("serve", "worker"):
        from app.cli.settings import load_settings
        from app.observability.logs import configure

        configure(load_settings())
    else:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
