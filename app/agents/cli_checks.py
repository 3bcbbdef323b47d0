"""What stops `serve` and `worker` about agents: a bad AGENTS_FILE, an unknown `--agent`."""

from __future__ import annotations

from app.agents.profiles import AgentsFileError, load_profiles


def agents_refusal(settings, agent: str | None) -> str | None:
    from app.tasks.task_tools import with_task_tools
    from app.tools.registry import load_registry

    try:
        profiles = load_profiles(settings.agents_file, with_task_tools(load_registry(settings.plugins_dir)).names())
    except AgentsFileError as exc:
        return str(exc)
    if agent is not None and profiles.get(agent) is None:
        return f"--agent {agent}: no such agent in {settings.agents_file}; agents: {', '.join(profiles.names())}"
    return None
