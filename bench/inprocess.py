"""Measured inside one process: CPU per turn (ours against Pydantic AI), SQL statements per
turn, and the planner prompt's size."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time

import sqlalchemy as sa
from pydantic import Field, create_model

from app.config import Settings
from app.conversations.message import Message
from app.llm.scripted import ScriptedModel
from app.planner.prompt import build_messages, system_prompt
from app.runtime import Runtime
from app.store.db import create_db_engine
from app.store.migrate import upgrade
from app.tools import ToolArgs, tool
from app.tools.registry import load_registry
from bench.server import plan_for

logging.disable(logging.WARNING)


def _runtime(db_url: str) -> Runtime:
    root = tempfile.mkdtemp(prefix="bench-")
    os.makedirs(f"{root}/ws", exist_ok=True)
    settings = Settings(_env_file=None, db_url=db_url, workspace_root=f"{root}/ws", data_dir=f"{root}/data",
                        confirm_secret="bench", rate_limit_enabled=False, session_tool_calls_per_hour=0,
                        session_tokens_per_hour=0, ollama_model="scripted")
    return Runtime(settings, model=ScriptedModel(plan_for, repeat_last=True, record=False))


def _ours(db_url: str):
    """A function running n of our turns and returning the CPU seconds they took."""
    runtime = _runtime(db_url)
    done = iter(range(10**9))

    def run(n: int) -> float:
        started = time.process_time()
        for i in range(n):
            runtime.conversations.answer(Message("web", f"s{next(done) % 10}", "what is in the workspace?"))
        return time.process_time() - started

    run(50)  # warm-up
    return run


def _pydantic_ai():
    import pydantic_ai
    from pydantic_ai import Agent as PAgent
    from pydantic_ai.messages import (
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models.function import FunctionModel

    workspace = tempfile.mkdtemp(prefix="bench-pai-")

    def model_fn(messages, info):
        if any(isinstance(part, ToolReturnPart) for part in messages[-1].parts):
            return ModelResponse(parts=[TextPart("On it.")])
        return ModelResponse(parts=[ToolCallPart("list_dir", {"path": "."})])

    agent = PAgent(FunctionModel(model_fn))

    @agent.tool_plain
    def list_dir(path: str = ".") -> dict:
        """List the entries of a folder in the workspace."""
        entries = sorted(os.scandir(os.path.join(workspace, path)), key=lambda e: e.name)
        return {"path": path, "entries": [{"name": e.name, "type": "dir" if e.is_dir() else "file"} for e in entries]}

    def run(n: int) -> float:
        started = time.process_time()
        for _ in range(n):
            agent.run_sync("what is in the workspace?")
        return time.process_time() - started

    run(50)  # warm-up
    return run, pydantic_ai.__version__


def cpu_side_by_side(db_urls: dict[str, str], turns: int, rounds: int = 5) -> dict:
    """CPU ms per turn: Pydantic AI and ours on each store, in alternating slices, so a
    change in the machine's speed during the run falls on all of them alike."""
    peer, peer_version = _pydantic_ai()
    runners = {"pydantic_ai_ms": peer, **{f"ours_{name}_ms": _ours(url) for name, url in db_urls.items()}}
    spent = dict.fromkeys(runners, 0.0)
    for _ in range(rounds):
        for name, run in runners.items():
            spent[name] += run(turns // rounds)
    result = {name: seconds / (turns // rounds * rounds) * 1000 for name, seconds in spent.items()}
    result["pydantic_ai_version"] = peer_version
    return result


# Counted by the server, every statement a client sent: the hot statements run on the
# driver's cursor, where SQLAlchemy's execute events do not see them.
_STATEMENTS = ("Com_select", "Com_insert", "Com_update", "Com_delete")
_ENDINGS = ("Com_commit", "Com_rollback")


def _server_counts(probe: sa.Engine) -> dict[str, int]:
    with probe.connect() as conn:
        found = conn.execute(sa.text("SHOW GLOBAL STATUS WHERE Variable_name IN :names")
                             .bindparams(sa.bindparam("names", expanding=True)),
                             {"names": list(_STATEMENTS + _ENDINGS)}).all()
    return {name: int(value) for name, value in found}


def sql_per_turn(db_url: str) -> dict:
    """Statements (and transaction ends) per turn, read off MariaDB's own counters; nothing
    else may use the server meanwhile."""
    runtime = _runtime(db_url)
    probe = create_db_engine(db_url)
    for _ in range(3):
        runtime.conversations.answer(Message("web", "sql", "what is in the workspace?"))

    def delta(work) -> dict[str, int]:
        before = _server_counts(probe)
        work()
        after = _server_counts(probe)
        return {name: after[name] - before[name] for name in after}

    reading = delta(lambda: None)  # what reading the counters itself adds (its connection's end)

    def count(message: str) -> tuple[dict, object]:
        answered = []
        counted = delta(lambda: answered.append(runtime.conversations.answer(Message("web", "sql", message))))
        own = {name: counted[name] - reading[name] for name in counted}
        return {"statements": sum(own[n] for n in _STATEMENTS), "commits": own["Com_commit"],
                "rollbacks": own["Com_rollback"]}, answered[0]

    read, _ = count("what is in the workspace?")
    park, parked = count("write the report")
    confirm, _ = count(f"confirm {parked.confirmations[0].token}")
    probe.dispose()
    return {"read_only": read["statements"], "park": park["statements"], "confirm": confirm["statements"],
            "ends": {"read_only": read, "park": park, "confirm": confirm}}


def prompt_tokens(extra_tools: int) -> dict:
    registry = load_registry()
    for n in range(extra_tools):
        args = create_model(f"Args{n}", __base__=ToolArgs,
                            target=(str, Field(..., description="What to act on")),
                            limit=(int, Field(10, ge=1, le=100, description="How many")))

        def run(a, ctx):
            return {}
        registry.add(tool(name=f"custom_tool_{n}", description=f"Custom operation number {n} for the team.",
                          permissions=["read"], tag="read")(_annotate(run, args)), "bench")
    text = "\n".join(m["content"] for m in build_messages(system_prompt(registry, {}, []), "hello"))
    # No tokenizer ships offline; ~4 characters a token is the usual English estimate.
    return {"tools": len(registry), "chars": len(text), "tokens_est": round(len(text) / 4)}


def _annotate(func, model):
    func.__annotations__ = {"a": model, "ctx": object}
    return func


def mariadb_url(url: str) -> str:
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        from app.store.tables import metadata
        from plugins.customers.records import metadata as customers_metadata
        customers_metadata.drop_all(conn)
        metadata.drop_all(conn)
    engine.dispose()
    upgrade(url)
    return url


def sqlite_file_url() -> str:
    path = tempfile.mkdtemp(prefix="bench-sqlite-") + "/agent.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


if __name__ == "__main__":
    import sys
    print(json.dumps({"sql": sql_per_turn(mariadb_url(sys.argv[1]))}))
