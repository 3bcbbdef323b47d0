"""`llm-planner worker`: task slots and nothing else, on any machine that shares DB_URL and
WORKSPACE_ROOT. SIGTERM or Ctrl-C stops it gracefully: running steps finish (up to
TASK_DRAIN_SEC), leases are released, nothing is lost."""

from __future__ import annotations

import signal
import sys
import threading

from app.cli.settings import load_settings


def cmd_worker(args) -> int:
    from app.runtime import Runtime
    from app.store.migrate import SchemaAhead, SchemaBehind, ensure_current

    # First of all: a SIGTERM while the worker is still starting (systemd stopping it at
    # once, a test's teardown) is a clean stop too, not a kill.
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    settings = load_settings()
    from app.agents.cli_checks import (
        agents_refusal,  # agents: a bad AGENTS_FILE stops it
    )
    refusal = agents_refusal(settings, None)
    if refusal:
        print(refusal, file=sys.stderr)
        return 1
    runtime = Runtime(settings)
    try:
        ensure_current(runtime.engine, settings.db_url, migrate_sqlite=settings.is_sqlite)
    except (SchemaBehind, SchemaAhead) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    slots = args.slots or max(1, settings.task_workers)
    worker = runtime.task_worker
    worker.slots = slots
    worker.start()
    print(f"worker {worker.owner}: {slots} task slot(s); stop with SIGTERM or Ctrl-C", flush=True)
    stop.wait()
    drained = worker.stop(settings.task_drain_sec)
    print("worker stopped" + ("" if drained else " (some steps were still running: they are taken over)"),
          flush=True)
    return 0


def add(sub) -> None:
    worker = sub.add_parser("worker", help="run task slots (any number of workers may share DB_URL)")
    worker.add_argument("--slots", type=int, help="task slots in this process (default TASK_WORKERS, at least 1)")
    worker.set_defaults(func=cmd_worker)
