"""`llm-planner task add|list|show|watch|cancel|confirm`: tasks from the terminal, through
the database (a worker anywhere picks a new task up at its next poll)."""

from __future__ import annotations

import json
import sys
import time

from pydantic import ValidationError

from app.cli.settings import load_settings
from app.validation_errors import error_lines


def _tasks():
    from app.runtime import Runtime

    return Runtime(load_settings()).tasks


def _refused(exc) -> int:
    print(exc.message, file=sys.stderr)
    return 2 if exc.status == 404 else 1


def cmd_task(args) -> int:
    from app.tasks.schemas import TaskCreate
    from app.tasks.service import TaskError
    from app.tasks.states import TaskStatus

    tasks = _tasks()
    try:
        if args.action == "add":
            task = tasks.create(TaskCreate(title=args.title, description=args.description,
                                           complexity=args.complexity, priority=args.priority, agent=args.agent))
            print(task.id)
        elif args.action == "list":
            found, _ = tasks.page(status=args.status, stage=None, agent=None, limit=args.n, cursor=None)
            for task in found:
                print(f"{task.id}  {task.status:<21} {task.stage:<11} {task.stage_progress:>3} %  {task.title}")
        elif args.action == "show":
            print(tasks.get(args.id).model_dump_json(indent=2))
        elif args.action == "cancel":
            print(tasks.change_status(args.id, TaskStatus.CANCELLED, by="cli").status)
        elif args.action == "confirm":
            print(tasks.answer(args.id, args.token, "confirm").status)
        elif args.action == "watch":
            return _watch(tasks, args.id)
    except TaskError as exc:
        return _refused(exc)
    except ValidationError as exc:
        print("; ".join(error_lines(exc)), file=sys.stderr)
        return 2
    return 0


STAGES = ("design", "build", "test", "review", "complete")


def _watch(tasks, task_id: str) -> int:
    """A live progress bar and the updates as they come, until the task ends."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from app.tasks.states import TaskStatus

    console = Console()
    last = None
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f} %"),
                  console=console, transient=False) as progress:
        bar = progress.add_task("starting", total=100)
        while True:
            task = tasks.get(task_id)
            for update in tasks.updates(task_id, last, 200):
                last = update.id
                progress.console.print(f"[dim]{update.timestamp:%H:%M:%S}[/dim] {update.update_type}: "
                                       f"{update.content}", markup=True, highlight=False)
            done = STAGES.index(task.stage) if task.stage in STAGES else 0
            overall = 100 if task.stage == "complete" else (done * 100 + task.stage_progress) / len(STAGES)
            progress.update(bar, completed=overall, description=f"{task.status} · {task.stage}")
            if TaskStatus(task.status).ended:
                break
            time.sleep(0.5)
    if task.status == "complete":
        console.print(json.dumps(task.result, ensure_ascii=False))
        return 0
    console.print(f"{task.status}: {task.error or ''}".rstrip(": "))
    return 1


def add(sub) -> None:
    task = sub.add_parser("task", help="add, list, show, watch, cancel or confirm tasks")
    actions = task.add_subparsers(dest="action", required=True)
    add_ = actions.add_parser("add", help="queue a new task; prints its id")
    add_.add_argument("title")
    add_.add_argument("--description", required=True)
    add_.add_argument("--complexity", type=int, required=True)
    add_.add_argument("--priority", type=int, default=0)
    add_.add_argument("--agent")
    listing = actions.add_parser("list", help="the newest tasks")
    listing.add_argument("--status")
    listing.add_argument("-n", type=int, default=20)
    for name, text in (("show", "a task as JSON"), ("watch", "a live progress bar and the updates, until it ends"),
                       ("cancel", "cancel a task")):
        one = actions.add_parser(name, help=text)
        one.add_argument("id")
    confirm = actions.add_parser("confirm", help="confirm a task's parked call with its token")
    confirm.add_argument("id")
    confirm.add_argument("token")
    task.set_defaults(func=cmd_task)
