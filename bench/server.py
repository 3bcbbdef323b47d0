"""The service as benchmarked: the real app, a zero-latency scripted model in place of the LLM."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os

import uvicorn

from app.config import Settings
from app.llm.scripted import ScriptedModel
from app.main import create_app
from app.observability.logs import configure as configure_logging

_paths = itertools.count()


def plan_for(messages: list[dict], schema: dict | None) -> str:
    """'write …' asks for a write (parked), anything else for one read tool."""
    if "write" in messages[-1]["content"]:
        call = {"tool": "write_file", "args": {"path": f"bench/out-{next(_paths) % 1000}.txt", "content": "x"}}
    else:
        call = {"tool": "list_dir", "args": {"path": "."}}
    return json.dumps({"reply": "On it.", "tool_calls": [call], "facts": {}})


def build(db_url: str, workspace: str, data_dir: str):
    """As `llm-planner serve` runs, default logging included (INFO, JSON, one line a turn);
    rate limits and budgets off, or the load generator would only measure refusals."""
    settings = Settings(_env_file=None, db_url=db_url, workspace_root=workspace, data_dir=data_dir,
                        confirm_secret="bench", rate_limit_enabled=False, session_tool_calls_per_hour=0,
                        session_tokens_per_hour=0, ollama_model="scripted",
                        meta_app_secret="bench-secret", meta_verify_token="bench", inbox_lease_sec=3600)
    configure_logging(settings)
    # The webhook run has no Graph token: every reply attempt would log a warning.
    logging.getLogger("llm_planner.deliveries").setLevel(logging.ERROR)
    return create_app(settings, model=ScriptedModel(plan_for, repeat_last=True, record=False), serving=True)


def from_env():
    """The app for each worker process (uvicorn imports it by name)."""
    return build(os.environ["BENCH_DB"], os.environ["BENCH_WORKSPACE"], os.environ["BENCH_DATA"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ.update(BENCH_DB=args.db, BENCH_WORKSPACE=args.workspace, BENCH_DATA=args.data)
    # As `serve` runs uvicorn, but without its access log: the bare ceiling has none either.
    uvicorn.run("bench.server:from_env", factory=True, workers=args.workers, host="127.0.0.1",
                port=args.port, log_config=None, access_log=False)
