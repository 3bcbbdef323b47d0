"""POST /mcp: streamable HTTP, stateless (no session id: any worker answers any request),
behind AGENT_API_KEY (or a named key of API_KEYS, whose [keys.NAME] rules then bind the
calls). A refused key is answered before anything MCP reads the body."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from app.http.deps import RuntimeDep, agent_key_required, api_key_name
from app.mcp.server import build_server

router = APIRouter()


class _McpExchange(Response):
    """Hands the untouched request to MCP's own transport, which writes the answer."""

    def __init__(self, server) -> None:
        super().__init__()
        self.server = server

    async def __call__(self, scope, receive, send) -> None:
        # One manager per request: stateless, nothing outlives the request, and the app's
        # lifespan need not run one.
        manager = StreamableHTTPSessionManager(
            self.server, stateless=True, json_response=True,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        async with manager.run():
            await manager.handle_request(scope, receive, send)


@router.post("/mcp", tags=["mcp"], summary="MCP over streamable HTTP (stateless)",
             description="JSON-RPC MCP messages (initialize, tools/list, tools/call, ...). Needs "
                         "`X-API-Key: AGENT_API_KEY`. Read tools run; write tools park and answer the "
                         "confirmation's id; `get_confirmation(id)` tells where it stands.",
             responses={200: {"description": "the MCP answer"}, 401: {"description": "missing or wrong key"},
                        503: {"description": "AGENT_API_KEY is not set"}},
             dependencies=[Depends(agent_key_required)])
async def mcp_endpoint(request: Request, runtime: RuntimeDep) -> Response:
    # A server per request (a few handlers, cheap): it carries the key the calls are made with.
    return _McpExchange(build_server(runtime, api_key_name(request)))
