"""An MCP stdio server in the standard library alone (JSON-RPC lines on stdin/stdout), so
it runs on the system's python3 inside the sandbox. One tool, `probe(path)`: who it runs as,
whether it can read `path`, and which of the service's secrets its environment holds."""

import json
import os
import sys

TOOL = {"name": "probe", "description": "Say who runs this server and whether a path can be read.",
        "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}


def probe(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
        read = "ok"
    except OSError:
        read = "refused"
    names = sorted(name for name in os.environ if "SECRET" in name or "KEY" in name or name == "DB_URL")
    return f"uid={os.getuid()} read={read} env={','.join(names)}"


def answer(request: dict) -> dict | None:
    method, params = request.get("method"), request.get("params") or {}
    if "id" not in request:
        return None  # a notification
    if method == "initialize":
        result = {"protocolVersion": params.get("protocolVersion", "2025-06-18"), "capabilities": {"tools": {}},
                  "serverInfo": {"name": "raw", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "tools/call":
        text = probe(str((params.get("arguments") or {}).get("path", "")))
        result = {"content": [{"type": "text", "text": text}], "isError": False}
    elif method == "ping":
        result = {}
    else:
        return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": "no such method"}}
    return {"jsonrpc": "2.0", "id": request["id"], "result": result}


for line in sys.stdin:
    if line.strip():
        reply = answer(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
