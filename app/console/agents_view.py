"""The agents as the console shows them. Agent services (`runtime.agents`: launch, list,
stop, logs) are used when this build has them; without, the agents are the task service's
(the `default` one), served by this process's task slots."""

from __future__ import annotations

from collections import deque
from typing import Any

from app.console import repository

LOG_LINES = 50


def services(runtime) -> Any:
    return getattr(runtime, "agents", None)


def _as_dict(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return {k: v for k, v in vars(value).items() if not k.startswith("_")} if hasattr(value, "__dict__") else {}


def _listed(runtime) -> dict[str, dict]:
    agents = services(runtime)
    lister = getattr(agents, "list", None)
    if not callable(lister):
        return {}
    try:
        found = lister()
    except Exception:  # the page still shows what it knows
        return {}
    listed = {}
    for item in found or []:
        item = _as_dict(item)
        if item.get("name"):
            listed[str(item["name"])] = item
    return listed


def agents_status(runtime) -> list[dict]:
    """Each agent: name, status, up, running tasks, service (url, pid) when launched."""
    names = list(runtime.tasks.agents())
    listed = _listed(runtime)
    names += [name for name in listed if name not in names]
    running = repository.running_by_agent(runtime.engine)
    in_process = runtime.settings.task_workers
    rows = []
    for name in names:
        service = listed.get(name)
        if service is not None:
            status = str(service.get("status") or "unknown")
            up = status in ("running", "up", "available", "healthy", "online")
        else:
            up = in_process > 0
            status = (f"served by this process ({in_process} task slot(s))" if up
                      else "no task slot in this process (TASK_WORKERS=0); a worker may serve it")
        rows.append({"name": name, "status": status, "up": up, "running": running.get(name, 0),
                     "service": service, "launched": service is not None and up})
    return rows


def log_tail(runtime, name: str) -> str:
    agents = services(runtime)
    for method in ("logs", "log_tail"):
        reader = getattr(agents, method, None)
        if callable(reader):
            try:
                lines = reader(name, LOG_LINES)
            except Exception as exc:
                return f"(the log could not be read: {exc})"
            return lines if isinstance(lines, str) else "\n".join(str(line) for line in lines or [])
    log_file = runtime.settings.log_file
    if not log_file:
        return "(no log file: set LOG_FILE to keep the service's log, and read its tail here)"
    try:
        with open(log_file, encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=LOG_LINES))
    except OSError as exc:
        return f"(the log file {log_file} could not be read: {exc.strerror})"
