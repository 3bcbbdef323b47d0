"""The sections of BENCHMARKS.md for agents, the sandbox and MCP, from the figures their own
scripts keep (each compares its two sides in one run):

    uv run --group bench python -m bench.agents  --json bench/agents-last-run.json
    uv run python -m bench.sandbox --json bench/sandbox-last-run.json
    uv run python -m bench.mcp     --json bench/mcp-last-run.json
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(name: str) -> dict | None:
    path = HERE / f"{name}-last-run.json"
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render() -> str:
    lines: list[str] = []
    agents, sandbox, mcp = _load("agents"), _load("sandbox"), _load("mcp")
    if agents:
        lines += [
            "## Agents", "",
            "`python -m bench.agents`: real `llm-planner serve --agent NAME` processes launched through the",
            "supervisor, and turns through `/agent` and `/agents/default/agent` in paired, alternating rounds.", "",
            "| figure | value | target | |", "| --- | --- | --- | --- |",
            f"| launch to healthy (median of {len(agents['launch_to_healthy_s'])}) | "
            f"{agents['launch_to_healthy_s_median']:.2f} s | | |",
            f"| stop (SIGTERM, graceful) | {agents['stop_s_median']:.2f} s | | |",
            f"| a turn via `/agent` / via `/agents/default/agent` | {agents['agent_turn_ms']:.2f} / "
            f"{agents['named_agent_turn_ms']:.2f} ms | | |",
            f"| overhead of the named agent, wall / CPU | {agents['overhead_pct']:+.1f} % / "
            f"{agents['overhead_cpu_pct']:+.1f} % | within 5 % | {_verdict(agents['overhead_pct'] <= 5)} |", ""]
    if sandbox:
        lines += [
            "## The sandbox", "",
            f"`python -m bench.sandbox`: a trivial command (`true`) through `run_process`, {sandbox['runs']} times",
            "with SANDBOX=none and with SANDBOX=bwrap, interleaved (the service runs as root here, so the",
            "sandboxed start also drops to an unprivileged user with `setpriv`).", "",
            "| figure | value | target | |", "| --- | --- | --- | --- |",
            f"| without / with the sandbox, p50 | {sandbox['none_p50_ms']:.2f} / {sandbox['bwrap_p50_ms']:.2f} ms | | |",
            f"| without / with the sandbox, p95 | {sandbox['none_p95_ms']:.2f} / {sandbox['bwrap_p95_ms']:.2f} ms | | |",
            f"| added by the sandbox, p50 | {sandbox['added_p50_ms']:.2f} ms | ≤ {sandbox['target_added_p50_ms']} ms | "
            f"{_verdict(sandbox['added_p50_ms'] <= sandbox['target_added_p50_ms'])} |", ""]
    if mcp:
        figures = mcp["figures"]
        plugin = figures["plugin"]["p50_ms"]
        lines += [
            "## MCP", "",
            f"`python -m bench.mcp`: one read tool through the executor, {mcp['calls']} calls each, as a plugin,",
            "through an MCP stdio server and through an MCP streamable-HTTP server (the same tool), same run.",
            "Before each call the server's tool list is read again to check the pinned definition: about half",
            "of an MCP call, kept because a changed tool must be refused before it runs.", "",
            "| path | p50 ms | p95 ms | added at p50 |", "| --- | --- | --- | --- |"]
        for name, row in figures.items():
            added = "" if name == "plugin" else f"+{row['p50_ms'] - plugin:.2f} ms"
            lines.append(f"| {name} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {added} |")
        lines.append("")
    return "\n".join(lines)
