"""MCP's overhead, measured side by side in one run: the same read tool (echo a text) called
through the executor as a plugin, through an MCP server over stdio, and through one over
streamable HTTP (both the suite's tests/mcp_servers/demo.py), each after its session is up.
What is timed is the executor's prepare + run, as a chat turn calls it: for MCP that includes
the pin check (the server's tools listed and hashed) and the call itself.

    uv run python -m bench.mcp [--calls 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from app.config import Settings
from app.mcp import pins
from app.mcp.client import McpTools
from app.store.db import create_db_engine
from app.store.migrate import upgrade
from app.tools.declare import ToolContext, tool
from app.tools.executor import Executor
from app.tools.filter import ToolFilter
from app.tools.policy import Policy
from app.tools.records import Records
from app.tools.registry import ToolRegistry
from app.tools.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "mcp_servers" / "demo.py"


class EchoArgs(BaseModel):
    text: str


@tool(tag="read")
def echo(args: EchoArgs, ctx: ToolContext) -> str:
    """Say the text back."""
    return f"echo: {args.text} (pid {os.getpid()})"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(executor: Executor, ctx: ToolContext, name: str, calls: int) -> list[float]:
    for _ in range(10):  # the session up, the caches warm
        executor.run(executor.prepare(name, {"text": "warm"}, "api"), ctx)
    out = []
    for i in range(calls):
        started = time.perf_counter()
        prepared = executor.prepare(name, {"text": f"call {i}"}, "api")
        execution = executor.run(prepared, ctx)
        out.append((time.perf_counter() - started) * 1000)
        assert execution.status == "success", execution
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    (root / "ws").mkdir()
    port = _free_port()
    (root / "operator.toml").write_text(f"""
[mcp.stdio]
command = [{sys.executable!r}, {str(DEMO)!r}]
tools = ["echo"]
read = ["echo"]

[mcp.http]
url = "http://127.0.0.1:{port}/mcp"
tools = ["echo"]
read = ["echo"]
""")
    url = f"sqlite:///{root}/bench.db"
    upgrade(url)
    settings = Settings(_env_file=None, db_url=url, workspace_root=root / "ws", operator_file=root / "operator.toml",
                        blocked_permissions="", confirm_secret="bench",
                        # The demo server needs the `mcp` package, which the sandbox does not
                        # show; what the sandbox adds to a start is bench.sandbox's figure.
                        sandbox="none")
    engine = create_db_engine(url)
    server = subprocess.Popen([sys.executable, str(DEMO), str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    mcp = McpTools(settings, engine)
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        for name, config in mcp.servers().items():
            pins.trust(engine, name, mcp.connections.list_tools(name, config, 30), "bench")
        registry = ToolRegistry([echo])
        mcp.register(registry)
        executor = Executor(ToolFilter(registry, Policy(), frozenset()), 30, settings.max_output_size, workers=4)
        ctx = ToolContext(workspace=Workspace(settings.workspace_root), settings=settings, records=Records(engine),
                          request_id="bench", session_id="bench", max_output_size=settings.max_output_size)
        figures = {}
        for label, name in (("plugin", "echo"), ("mcp stdio", "stdio.echo"), ("mcp http", "http.echo")):
            times = _timed(executor, ctx, name, args.calls)
            figures[label] = {"p50_ms": round(statistics.median(times), 3),
                              "p95_ms": round(statistics.quantiles(times, n=20)[18], 3),
                              "mean_ms": round(statistics.fmean(times), 3)}
    finally:
        mcp.connections.close()
        server.terminate()
        server.wait(10)
    base = figures["plugin"]["p50_ms"]
    print(f"read tool through the executor, {args.calls} calls each (after 10 to warm up)")
    print(f"{'':12}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}{'overhead p50':>15}")
    for label, row in figures.items():
        extra = "" if label == "plugin" else f"+{row['p50_ms'] - base:.2f} ms"
        print(f"{label:12}{row['p50_ms']:>10.2f}{row['p95_ms']:>10.2f}{row['mean_ms']:>10.2f}{extra:>15}")
    if args.json:
        Path(args.json).write_text(json.dumps({"calls": args.calls, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
