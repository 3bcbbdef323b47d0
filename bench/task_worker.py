"""A task worker process as benchmarked: the real Worker, a zero-latency scripted model.

    python -m bench.task_worker --db URL --workspace DIR --data DIR --slots N"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from app.config import Settings
from app.llm.scripted import ScriptedModel
from app.runtime import Runtime


def plan_for_task(messages: list[dict], schema: dict | None) -> str:
    """'steps:N' in the description: N-1 steps with one read tool, then finish_task."""
    system, user = messages[0]["content"], messages[-1]["content"]
    wanted = int(user.rsplit("steps:", 1)[1].split()[0]) if "steps:" in user else 1
    done = system.count('"kind": "step"')
    if done + 1 >= wanted:
        call = {"tool": "finish_task", "args": {"summary": "done", "files": []}}
    else:
        call = {"tool": "list_dir", "args": {"path": "."}}
    return json.dumps({"reply": "On it.", "tool_calls": [call], "facts": {}})


def settings_for(db: str, workspace: str, data: str, slots: int, poll: float = 1.0) -> Settings:
    return Settings(_env_file=None, db_url=db, workspace_root=workspace, data_dir=data, confirm_secret="bench",
                    rate_limit_enabled=False, session_tool_calls_per_hour=0, session_tokens_per_hour=0,
                    ollama_model="scripted", task_workers=slots, task_poll_sec=poll, agent_api_key="bench",
                    task_max_tokens=10**9)


def runtime_for(settings: Settings) -> Runtime:
    return Runtime(settings, model=ScriptedModel(plan_for_task, repeat_last=True, record=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--gate", action="store_true", help="start the slots on a line on stdin, not at once")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runtime = runtime_for(settings_for(args.db, args.workspace, args.data, args.slots, args.poll))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    if args.gate:  # every process started and imported before any of them takes a task
        sys.stdin.readline()
    runtime.task_worker.start()
    stop.wait()
    runtime.task_worker.stop(30)
