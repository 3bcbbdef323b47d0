"""The e-mail a completed task sends to its `notify_email`: the summary, with the files of
its `output/` folder attached.

Once per completion: it is started only by the worker whose transaction completed the task
(conditional on its lease, unique per step), and before sending it claims the e-mail in the
database: under the task's row lock, a `note` update "e-mailing the summary to …" is written
unless one already is, so whatever calls it twice, one call sends. It runs after the
completion's commit, in a thread of its own: a mail server that is down or slow neither
holds the worker's slot nor undoes the completion; the outcome is a second `note` (and its
audit event) either way. A worker that dies between the claim and the sending leaves the
claim and no e-mail: at most once, never twice."""

from __future__ import annotations

import logging
import smtplib
import threading
import uuid
from pathlib import Path

from app.audit.chain import AuditTrail
from app.channel import Channel
from app.store.transactions import writing
from app.tasks import repository
from app.tasks.deps import TaskDeps
from app.tasks.journal import Journal
from app.tasks.states import TaskStatus, UpdateType
from app.tools.mail import send_mail

log = logging.getLogger("llm_planner.tasks")
MAX_FILES = 20
MAX_BYTES = 10 * 2**20  # attached in all; the rest is named in the body
CLAIM = "e-mailing the summary to "


def notify_completion(deps: TaskDeps, task_id: str) -> threading.Thread:
    thread = threading.Thread(target=_notify, args=(deps, task_id), name=f"task-notify-{task_id[:8]}")
    thread.start()
    return thread


def _output_files(root: Path) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(attached, left out): the regular files under output/, never through a symlink."""
    attached, left_out, total = [], [], 0
    output = root / "output"
    if not output.is_dir() or output.is_symlink():
        return attached, left_out
    inside = output.resolve()
    for path in sorted(output.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(inside):
            continue
        size = path.stat().st_size
        if len(attached) >= MAX_FILES or total + size > MAX_BYTES:
            left_out.append(relative)
            continue
        try:
            attached.append((relative.removeprefix("output/").replace("/", "_"), path.read_bytes()))
            total += size
        except OSError:
            left_out.append(relative)
    return attached, left_out


def _notify(deps: TaskDeps, task_id: str) -> None:
    try:
        task = _claim(deps, task_id)
        if task is None:
            return
        address = task.notify_email
        summary = (task.result or {}).get("summary") or "(no summary)"
        attached, left_out = _output_files(deps.folders.open(task.workspace).root) if task.workspace else ([], [])
        body = [summary, "", f"Task: {task.title} ({task.id})"]
        if attached:
            body.append("Attached from output/: " + ", ".join(name for name, _ in attached))
        if left_out:
            body.append("Too large to attach (in the task's folder): " + ", ".join(left_out))
        try:
            via = send_mail(deps.settings, address, f"Task complete: {task.title}", "\n".join(body), attached)
            note = (f"the summary was e-mailed to {address}" if via == "smtp"
                    else f"SMTP_HOST is not set: the summary for {address} was only written to the log")
            data = {"notify": "sent" if via == "smtp" else "logged", "to": address,
                    "files": [name for name, _ in attached]}
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("task %s: the summary could not be e-mailed to %s: %s", task_id, address, type(exc).__name__)
            note = f"the summary could not be e-mailed to {address} ({type(exc).__name__}: the mail server did not take it)"
            data = {"notify": "failed", "to": address, "reason": type(exc).__name__}
        journal = _journal(task)
        journal.add(UpdateType.NOTE, note, **data)
        with writing(deps.engine) as conn:
            journal.flush(conn)
        journal.trail.committed()
    except Exception:  # the task is complete whatever happens here; this is only its e-mail
        log.exception("task %s: the completion e-mail failed", task_id)


def _journal(task) -> Journal:
    return Journal(task.id, task.agent, AuditTrail(str(uuid.uuid4()), Channel.TASK.value, task.id))


def _claim(deps: TaskDeps, task_id: str):
    """The completed task, when this call is the one to send its e-mail; else None."""
    with writing(deps.engine) as conn:
        task = repository.get(conn, task_id, lock=True)
        if task is None or not task.notify_email or task.status != TaskStatus.COMPLETE:
            return None
        if repository.has_update(conn, task_id, UpdateType.NOTE.value, CLAIM):
            return None
        journal = _journal(task)
        journal.add(UpdateType.NOTE, f"{CLAIM}{task.notify_email}", notify="sending", to=task.notify_email)
        journal.flush(conn)
    journal.trail.committed()
    return task
