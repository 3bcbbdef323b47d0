"""The service as benchmarked: the real app, a zero-latency scripted model in place of the LLM."""

from __future__ import annotations

import argparse
import itertools
import json
import logging

import uvicorn

from app.config import Settings
from app.llm.scripted import ScriptedModel
from app.main import create_app, tune_process

_paths = itertools.count()


def plan_for(messages: list[dict], schema: dict | None) -> str:
    """'write …' asks for a write (parked), anything else for one read tool."""
    if "write" in messages[-1]["content"]:
        call = {"tool": "write_file", "args": {"path": f"bench/out-{next(_paths) % 1000}.txt", "content": "x"}}
    else:
        call = {"tool": "list_dir", "args": {"path": "."}}
    return json.dumps({"reply": "On it.", "tool_calls": [call], "facts": {}})


def build(db_url: str, workspace: str, data_dir: str):
    settings = Settings(_env_file=None, db_url=db_url, workspace_root=workspace, data_dir=data_dir,
                        confirm_secret="bench", rate_limit_enabled=False, session_tool_calls_per_hour=0,
                        session_tokens_per_hour=0, log_level="WARNING", ollama_model="scripted",
                        meta_app_secret="bench-secret", meta_verify_token="bench", inbox_lease_sec=3600)
    return create_app(settings, model=ScriptedModel(plan_for, repeat_last=True, record=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    # Only errors: the webhook run has no Graph token, so every reply attempt would warn.
    logging.basicConfig(level=logging.ERROR)
    tune_process()  # as `llm-planner serve` does
    uvicorn.run(build(args.db, args.workspace, args.data), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)
