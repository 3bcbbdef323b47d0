"""The agents as the console shows them: each profile's status in assignment, its running
tasks, and its own service (`runtime.agents`: launch, stop, logs) when one is launched."""

from __future__ import annotations

from app.agents.service import AgentError

LOG_LINES = 50
LIVE = ("starting", "running")


def agents_status(runtime) -> list[dict]:
    """Each agent: name, status, up, running tasks, its service (url, port, pid) when launched."""
    rows = []
    for agent in runtime.agents.list():
        service = agent.get("service")
        launched = service is not None and service.get("status") in LIVE
        status = agent["status"] + (f"; service {service['status']}" if service else "")
        rows.append({"name": agent["name"], "status": status, "up": agent["status"] != "offline",
                     "running": agent["running_tasks"], "service": service, "launched": launched})
    return rows


def log_tail(runtime, name: str) -> str:
    try:
        lines = runtime.agents.logs(name, LOG_LINES)
    except (AgentError, OSError) as exc:
        return f"(the log could not be read: {exc})"
    return "\n".join(lines) if lines else "(no log yet: the agent's service has not been launched)"
