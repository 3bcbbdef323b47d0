"""`llm-planner mcp trust NAME | status | serve`: the MCP servers we use, and ours over stdio."""

from __future__ import annotations

import getpass
import sys

from app.cli.settings import load_settings


def _tools(settings):
    import logging

    from app.mcp.client import McpTools
    from app.store.db import create_db_engine

    # What a broken server makes MCP's own client log (tracebacks) is not for this terminal:
    # the command says what went wrong in one line.
    logging.getLogger("mcp").setLevel(logging.CRITICAL)

    return McpTools(settings, create_db_engine(settings.db_url))


def cmd_trust(args) -> int:
    from app.mcp import pins
    from app.mcp.client import schema_problem
    from app.mcp.connections import START_TIMEOUT
    from app.tools.errors import ToolError

    settings = load_settings()
    tools = _tools(settings)
    server = tools.servers().get(args.name)
    if server is None:
        print(f"no [mcp.{args.name}] server in OPERATOR_FILE {settings.operator_file}", file=sys.stderr)
        return 1
    try:
        budget = min(START_TIMEOUT, settings.max_tool_timeout) + server.timeout
        live = {item["name"]: item for item in tools.connections.list_tools(args.name, server, server.timeout, budget)}
    except ToolError as exc:
        print(f"{exc}; nothing was pinned", file=sys.stderr)
        return 1
    finally:
        tools.connections.close()
    offered = [live[name] for name in server.tools if name in live]
    by = (args.by or "").strip() or getpass.getuser()
    pinned = pins.trust(tools.engine, args.name, offered, by)
    print(f"trusted MCP server {args.name} ({'url ' + server.url if server.url else 'command ' + ' '.join(server.command)}), "
          f"by {by}; pinned {len(pinned)} tool(s):")
    for item, pin in zip(offered, pinned):
        tag = "read" if item["name"] in server.read else "write"
        print(f"  {args.name}.{item['name']}  [{tag}]  sha256 {pin['hash']}")
        print(f"      {(item['description'] or '').strip().splitlines()[0] if item['description'] else '(no description)'}")
        problem = schema_problem(item["inputSchema"])
        if problem:
            print(f"      warning: its input schema is not valid JSON Schema ({problem}): every call is refused")
    for name in server.tools:
        if name not in live:
            print(f"  warning: {name} is listed in the operator file but the server does not offer it")
    unlisted = sorted(set(live) - set(server.tools))
    if unlisted:
        print(f"  not offered (not in tools): {', '.join(unlisted)}")
    return 0


def cmd_status(args) -> int:
    from app.mcp import pins
    from app.tools.errors import ToolError

    settings = load_settings()
    tools = _tools(settings)
    servers = tools.servers()
    if not servers:
        print(f"no [mcp.NAME] servers in OPERATOR_FILE {settings.operator_file}")
        return 0
    changed_any = False
    try:
        for name, server in sorted(servers.items()):
            pinned = pins.of_server(tools.engine, name)
            where = f"url {server.url}" if server.url else "command " + " ".join(server.command)
            blocked = sorted({"network" if server.url else "execute"} & settings.blocked)
            note = f"  [blocked: {', '.join(blocked)}]" if blocked else ""
            print(f"{name}  {where}{note}")
            live, reason = None, None
            if args.live and pinned:
                try:
                    live = {i["name"]: i for i in tools.connections.list_tools(name, server, min(server.timeout, 10))}
                except ToolError as exc:
                    reason = str(exc)
            for tool in server.tools:
                pin = pinned.get(tool)
                tag = "read" if tool in server.read else "write"
                if pin is None:
                    state = "not trusted (run `llm-planner mcp trust " + name + "`)"
                else:
                    if live is not None:
                        if tool not in live:
                            state = None
                        else:
                            digest = pins.definition_hash(live[tool])
                            if digest != pin.definition_hash:
                                pins.note_change(tools.engine, name, tool, digest)
                                pin = pins.of_server(tools.engine, name)[tool]
                    if pin.changed_hash:
                        changed_any = True
                        state = (f"CHANGED since trusted (seen {pin.changed_at.isoformat(timespec='seconds')}): "
                                 f"refused until trusted again")
                    elif live is not None and tool not in live:
                        state = "trusted, but the server no longer offers it"
                    else:
                        state = f"trusted by {pin.trusted_by} at {pin.trusted_at.isoformat(timespec='seconds')}"
                print(f"  {name}.{tool}  [{tag}]  {state}")
            if reason:
                print(f"  (live check failed: {reason})")
    finally:
        tools.connections.close()
    return 2 if changed_any else 0


def cmd_serve(args) -> int:
    import anyio
    from mcp.server.stdio import stdio_server

    from app.mcp.server import build_server
    from app.runtime import Runtime
    from app.store.migrate import ensure_current
    from app.tools.policy import PolicyError

    settings = load_settings()
    try:
        runtime = Runtime(settings)
    except PolicyError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    ensure_current(runtime.engine, settings.db_url, migrate_sqlite=settings.is_sqlite)
    server = build_server(runtime)

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)
    return 0


def add(sub) -> None:
    group = sub.add_parser("mcp", help="MCP servers we use (trust, status) and ours over stdio (serve)")
    actions = group.add_subparsers(dest="action", required=True)
    trust = actions.add_parser("trust", help="connect to [mcp.NAME], list its offered tools and pin their "
                                             "definitions (name, description, input schema) by hash")
    trust.add_argument("name")
    trust.add_argument("--by", help="who trusts it (default: the system user)")
    trust.set_defaults(func=cmd_trust)
    status = actions.add_parser("status", help="each server's offered tools: trusted, not trusted, or changed")
    status.add_argument("--offline", dest="live", action="store_false",
                        help="do not connect to the servers: only what was recorded")
    status.set_defaults(func=cmd_status)
    serve = actions.add_parser("serve", help="offer our catalogue to an MCP client over stdio")
    serve.set_defaults(func=cmd_serve)
