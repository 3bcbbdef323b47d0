"""A small MCP server for the suite, over stdio (no argument) or streamable HTTP (a port).

Tools: echo (reads), note (a "write": appends to notes.txt in its folder), big (an answer far
over MAX_OUTPUT_SIZE), fail (an error result), die (the process ends mid-call), hang (never
answers in time), odd (an input schema that is not JSON Schema). echo's description is read
from `echo_description.txt` in the working folder when it exists, so a test can change its
definition under a running server."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import anyio
import mcp_types as types
from mcp.server import Server

RUN = os.urandom(4).hex()  # this process's own: in the sandbox's pid namespace every server is pid 2
TEXT = {"type": "object", "properties": {"text": {"type": "string", "maxLength": 100}},
        "required": ["text"], "additionalProperties": False}


def _echo_description() -> str:
    path = Path("echo_description.txt")
    return path.read_text().strip() if path.exists() else "Say the text back."


async def list_tools(ctx, params) -> types.ListToolsResult:
    tools = [("echo", _echo_description(), TEXT), ("note", "Append the text to notes.txt.", TEXT),
             ("big", "A very long answer.", {"type": "object", "properties": {}}),
             ("fail", "Always fails.", {"type": "object", "properties": {}}),
             ("die", "Ends the server mid-call.", {"type": "object", "properties": {}}),
             ("hang", "Never answers in time.", {"type": "object", "properties": {}}),
             ("odd", "A schema that is not JSON Schema.", {"type": "object", "properties": {"x": {"type": 12}}})]
    return types.ListToolsResult(tools=[types.Tool(name=n, description=d, input_schema=s) for n, d, s in tools])


async def call_tool(ctx, params) -> types.CallToolResult:
    name, args = params.name, params.arguments or {}

    def text(value: str, error: bool = False) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(type="text", text=value)], is_error=error)

    if name == "echo":
        return text(f"echo: {args['text']} (pid {os.getpid()}, run {RUN})")
    if name == "note":
        with open("notes.txt", "a") as out:
            out.write(args["text"] + "\n")
        return text(f"noted {args['text']}")
    if name == "big":
        return text("x" * 50_000)
    if name == "fail":
        return text("the disk is on fire", error=True)
    if name == "die":
        os._exit(3)
    if name == "hang":
        await anyio.sleep(60)
    return text("?", error=True)


server = Server("demo", on_list_tools=list_tools, on_call_tool=call_tool)

if __name__ == "__main__":
    if len(sys.argv) > 1:
        import uvicorn
        from mcp.server.transport_security import TransportSecuritySettings

        app = server.streamable_http_app(stateless_http=True, json_response=True,
                                         transport_security=TransportSecuritySettings(
                                             enable_dns_rebinding_protection=False))
        if len(sys.argv) > 2:  # a bearer token the server insists on
            token = sys.argv[2]
            inner = app

            async def app(scope, receive, send):  # noqa: F811
                headers = dict(scope.get("headers") or [])
                if scope["type"] == "http" and headers.get(b"authorization") != f"Bearer {token}".encode():
                    await send({"type": "http.response.start", "status": 401, "headers": []})
                    await send({"type": "http.response.body", "body": b"no"})
                    return
                await inner(scope, receive, send)
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    else:
        from mcp.server.stdio import stdio_server

        async def main() -> None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(main)
    time.sleep(0)
