"""Agents, measured in one run on SQLite with a zero-latency scripted model:

- launch-to-healthy: `POST /api/launch_agents` until the agent's own service answers its
  health check (a real `llm-planner serve --agent NAME` process), then its stop;
- the overhead of a turn routed to a named agent (`POST /agents/default/agent`) against
  `POST /agent`, in alternating rounds of the same run (target: within 5 %).

    uv run python -m bench.agents               # prints the figures; --json FILE keeps them
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from app.config import Settings
from app.llm.scripted import ScriptedModel
from app.main import create_app
from app.runtime import Runtime

ADMIN = "bench-admin-key-0123456789"
PLAN = json.dumps({"reply": "ok", "tool_calls": [], "facts": {}})


def settings_for(root: Path, **extra) -> Settings:
    (root / "ws").mkdir(exist_ok=True)
    return Settings(_env_file=None, db_url=f"sqlite:///{root}/agent.db", workspace_root=root / "ws",
                    data_dir=root / "data", confirm_secret="bench-confirm-secret", ollama_model="bench",
                    rate_limit_enabled=False, task_workers=0, admin_api_key=ADMIN, log_dir=root / "logs",
                    agents_file=root / "agents.toml", **extra)


def launch_to_healthy(root: Path, launches: int) -> dict:
    (root / "agents.toml").write_text('[agents.bench]\ndescription = "a bench agent"\n')
    settings = settings_for(root, agent_startup_timeout=120, agent_shutdown_timeout=10)
    seconds, stops = [], []
    with TestClient(create_app(settings, model=ScriptedModel(PLAN, repeat_last=True))) as client:
        for _ in range(launches):
            started = time.perf_counter()
            answer = client.post("/api/launch_agents", json={"agents": ["bench"]}, headers={"X-API-Key": ADMIN})
            service = answer.json()["agents"][0]
            if service["status"] != "running":
                raise SystemExit(f"the bench agent did not start: {service}")
            seconds.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.post("/api/stop_agent", json={"agents": ["bench"]}, headers={"X-API-Key": ADMIN})
            stops.append(time.perf_counter() - started)
    return {"launch_to_healthy_s_median": statistics.median(seconds), "launch_to_healthy_s": seconds,
            "stop_s_median": statistics.median(stops)}


def turn_overhead(root: Path, turns: int, rounds: int) -> dict:
    (root / "agents.toml").unlink(missing_ok=True)  # the implicit `default` agent: same model and tools
    settings = settings_for(root)
    runtime = Runtime(settings, model=ScriptedModel(PLAN, repeat_last=True, record=False))
    plain, named = [], []
    cpu: dict[str, list[float]] = {"/agent": [], "/agents/default/agent": []}

    def run(client: TestClient, path: str) -> float:
        """Wall ms per turn; the process's CPU ms per turn (client and server: one process)
        is kept too, as the figure a shared, loaded machine disturbs least."""
        started, started_cpu = time.perf_counter(), time.process_time()
        for n in range(turns):
            response = client.post(path, json={"message": "hello", "session_id": f"s{n % 20}"})
            assert response.status_code == 200, response.text
        cpu[path].append((time.process_time() - started_cpu) / turns * 1000)
        return (time.perf_counter() - started) / turns * 1000

    with TestClient(create_app(settings, runtime=runtime)) as client:
        run(client, "/agent"), run(client, "/agents/default/agent")  # warm-up
        for n in range(rounds):  # which goes first alternates too
            if n % 2:
                named.append(run(client, "/agents/default/agent"))
                plain.append(run(client, "/agent"))
            else:
                plain.append(run(client, "/agent"))
                named.append(run(client, "/agents/default/agent"))
    a, b = statistics.median(plain), statistics.median(named)
    # Paired by round (each named round right after its plain one): a load that drifts
    # during the run moves both halves of a pair alike.
    paired = statistics.median((y - x) / x * 100 for x, y in zip(plain, named))
    cpu_paired = statistics.median((y - x) / x * 100 for x, y in zip(cpu["/agent"][1:], cpu["/agents/default/agent"][1:]))
    return {"agent_turn_ms": a, "named_agent_turn_ms": b, "overhead_pct": paired,
            "agent_turn_cpu_ms": statistics.median(cpu["/agent"][1:]),
            "named_agent_turn_cpu_ms": statistics.median(cpu["/agents/default/agent"][1:]),
            "overhead_cpu_pct": cpu_paired,
            "turns_per_round": turns, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-agents-"))
    figures = {**launch_to_healthy(root, args.launches), **turn_overhead(root, args.turns, args.rounds)}
    print(f"launch to healthy: {figures['launch_to_healthy_s_median']:.2f} s (median of {args.launches}); "
          f"stop: {figures['stop_s_median']:.2f} s")
    print(f"turn via /agent: {figures['agent_turn_ms']:.2f} ms; via /agents/default/agent: "
          f"{figures['named_agent_turn_ms']:.2f} ms; overhead {figures['overhead_pct']:+.1f} % "
          f"(median of paired rounds; target within 5 %)")
    print(f"CPU per turn: {figures['agent_turn_cpu_ms']:.2f} ms against {figures['named_agent_turn_cpu_ms']:.2f} ms; "
          f"overhead {figures['overhead_cpu_pct']:+.1f} %")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
