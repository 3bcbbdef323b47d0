"""`llm-planner serve`."""

from __future__ import annotations

import sys


def cmd_serve(args) -> int:
    import uvicorn

    from app import startup_checks
    from app.cli.settings import load_settings

    settings = load_settings()
    # Keys copied from .env.example, an unwritable data folder, a wrong operator or policy
    # file, a database that cannot be used: each stops the start with its own message.
    problems = startup_checks.refusals(settings)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    # agents: a bad AGENTS_FILE stops the start (one line naming where); `--agent NAME`
    # makes this process that agent's own service.
    from app.agents.cli_checks import agents_refusal
    refusal = agents_refusal(settings, args.agent)
    if refusal:
        print(refusal, file=sys.stderr)
        return 1
    if args.agent:
        import os
        os.environ["AGENT_NAME"] = args.agent
    # log_config=None: uvicorn's own loggers go through our (JSON) handlers too.
    uvicorn.run("app.main:app", host=args.host or settings.host, port=args.port or settings.port,
                workers=args.workers, log_config=None, proxy_headers=True)
    return 0


def add(sub) -> None:
    serve = sub.add_parser("serve", help="start the HTTP service on HOST:PORT")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--agent", help="run as this agent's own service (a profile of AGENTS_FILE)")
    serve.set_defaults(func=cmd_serve)
