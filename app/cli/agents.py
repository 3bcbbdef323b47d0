"""`llm-planner agents list | launch NAME… | stop NAME… | logs NAME [-f]`.

`launch` and `stop` ask the running service (`--url`, default http://HOST:PORT, with
ADMIN_API_KEY): the services it launches live as long as it does. `list` reads the
database, so it works with the service down; `logs` reads LOG_DIR/agents/NAME.log."""

from __future__ import annotations

import json
import sys
import time

from app.cli.settings import load_settings


def _row(service: dict) -> str:
    where = f"port {service['port']} pid {service['pid']}" if service.get("pid") else ""
    extra = f"  ({service['error']})" if service.get("error") and service["status"] == "failed" else ""
    return f"{service['name']:<20} {service['status']:<9} {where}{extra}".rstrip()


def _ask(settings, url: str | None, path: str, body: dict) -> list[dict] | None:
    import httpx

    base = url or f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    if not settings.admin_api_key:
        print("ADMIN_API_KEY is not set: launch and stop need it", file=sys.stderr)
        return None
    try:
        answer = httpx.post(f"{base}{path}", json=body, headers={"X-API-Key": settings.admin_api_key},
                            timeout=settings.agent_startup_timeout * max(1, len(body.get("agents", []))) + 30)
    except httpx.HTTPError as exc:
        print(f"the service at {base} cannot be reached ({exc.__class__.__name__}); is `llm-planner serve` "
              "running? (--url to name another)", file=sys.stderr)
        return None
    if answer.status_code != 200:
        try:
            detail = answer.json().get("error") or answer.json().get("detail")
        except ValueError:
            detail = answer.text[:200]
        print(f"{answer.status_code}: {detail}", file=sys.stderr)
        return None
    return answer.json()["agents"]


def cmd_agents(args) -> int:
    settings = load_settings()
    if args.action == "list":
        from app.runtime import Runtime

        agents = Runtime(settings).agents
        rows = agents.list()
        if args.json:
            print(json.dumps(rows, default=str, indent=2))
            return 0
        for agent in rows:
            service = agent["service"]
            running = f"service {service['status']} on port {service['port']}" if service else "no service"
            print(f"{agent['name']:<20} {agent['status']:<9} complexity {agent['min_complexity']}-"
                  f"{agent['max_complexity']}  tasks running {agent['running_tasks']}  {running}")
        return 0
    if args.action in ("launch", "stop"):
        if not args.names:
            print(f"name the agents to {args.action}", file=sys.stderr)
            return 2
        path = "/api/launch_agents" if args.action == "launch" else "/api/stop_agent"
        services = _ask(settings, args.url, path, {"agents": args.names})
        if services is None:
            return 1
        for service in services:
            print(_row(service))
        return 1 if any(s["status"] == "failed" for s in services) else 0
    # logs
    from app.agents.logs import log_path, tail

    if len(args.names) != 1:
        print("name one agent: llm-planner agents logs NAME [-f]", file=sys.stderr)
        return 2
    path = log_path(settings.log_dir, args.names[0])
    for line in tail(path, args.lines):
        print(line)
    if not args.follow:
        return 0
    position = path.stat().st_size if path.exists() else 0
    try:
        while True:
            time.sleep(0.5)
            size = path.stat().st_size if path.exists() else 0
            if size < position:  # rotated
                position = 0
            if size > position:
                with path.open("r", encoding="utf-8", errors="replace") as handle:
                    handle.seek(position)
                    sys.stdout.write(handle.read())
                    sys.stdout.flush()
                    position = handle.tell()
    except KeyboardInterrupt:
        return 0


def add(sub) -> None:
    agents = sub.add_parser("agents", help="agent profiles and their services: list | launch | stop | logs")
    agents.add_argument("action", choices=["list", "launch", "stop", "logs"])
    agents.add_argument("names", nargs="*", help="agent names")
    agents.add_argument("--url", help="the running service (default http://HOST:PORT)")
    agents.add_argument("-f", "--follow", action="store_true", help="logs: keep printing new lines")
    agents.add_argument("-n", "--lines", type=int, default=200, help="logs: how many of the last lines")
    agents.add_argument("--json", action="store_true", help="list: as JSON")
    agents.set_defaults(func=cmd_agents)
