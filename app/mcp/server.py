"""The server side: our catalogue offered to MCP clients (POST /mcp, `llm-planner mcp serve`).

Read tools run and return their output. A write tool is parked like any other: the answer is
the confirmation's id and preview, never its token, and there is no tool to approve it, so an
MCP client can never approve its own call; a person does (`llm-planner confirm ID`, the
console). `get_confirmation(id)` tells where it stands and, once it ran, what it gave."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import mcp_types as types
import sqlalchemy as sa
from mcp.server import Server

from app import __version__
from app.audit.chain import AuditTrail
from app.audit.kinds import AuditKind
from app.channel import Channel
from app.confirmations.repository import ConfirmationStatus
from app.store.tables import audit_events, utcnow
from app.store.tables import pending_confirmations as pc
from app.store.transactions import writing
from app.tools.declare import ToolContext
from app.tools.errors import ToolError
from app.tools.execution import ToolExecution
from app.tools.policy import Caller

log = logging.getLogger("llm_planner.mcp")
# Tied to a chat person (their memories, their tasks): nothing an MCP client is.
NOT_OFFERED = frozenset({"remember", "recall", "forget", "create_task"})
GET_CONFIRMATION = "get_confirmation"
GET_CONFIRMATION_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["id"],
    "properties": {"id": {"type": "integer", "minimum": 1,
                          "description": "the confirmation's id, as a parked call answered it"}}}


class McpDesk:
    """What an MCP client may do, synchronously (the transports call it in a thread)."""

    def __init__(self, runtime, key_name: str | None = None) -> None:
        """`key_name`: the API_KEYS name the client authenticated with (its [keys.NAME] rules
        bind it), None for AGENT_API_KEY and stdio."""
        self.runtime = runtime
        self.deps = runtime.conversations.deps
        self.caller = Caller(channel=Channel.MCP, key=key_name)

    def offered(self) -> list:
        return [item for item in self.runtime.tools.visible(self.caller) if item.name not in NOT_OFFERED]

    def definitions(self) -> list[dict[str, Any]]:
        found = [{"name": item.name, "description": item.description, "inputSchema": item.args_schema,
                  "tag": item.tag} for item in self.offered()]
        found.append({"name": GET_CONFIRMATION, "inputSchema": GET_CONFIRMATION_SCHEMA, "tag": "read",
                      "description": "Where a parked call stands (pending, approved, rejected, expired) "
                                     "and, once it ran, its output."})
        return found

    def call(self, name: str, args: Any) -> tuple[Any, bool]:
        """(what to answer, whether it is an error)."""
        if name == GET_CONFIRMATION:
            return self.confirmation(args)
        if name in NOT_OFFERED:
            return f"{name} is not offered over MCP", True
        request_id = str(uuid.uuid4())
        session_id = self._session(request_id)
        executor = self.deps.executor
        trail = AuditTrail(request_id, Channel.MCP, session_id)
        trail.hide(executor.secrets(name, args))
        prepared = executor.prepare(name, args, self.caller)
        if isinstance(prepared, ToolExecution):
            return self._finish(trail, prepared)
        ctx = ToolContext(workspace=self.deps.workspace, settings=self.deps.settings, records=self.deps.records,
                          request_id=request_id, session_id=session_id,
                          max_output_size=self.deps.settings.max_output_size, language=self.deps.texts.language)
        if prepared.tool.tag == "read":
            return self._finish(trail, executor.run(prepared, ctx))
        try:
            preview = executor.preview(prepared, ctx)
        except ToolError as exc:
            return self._finish(trail, ToolExecution(tool_name=prepared.tool.name, args=prepared.shown_args,
                                                     status="error", error=str(exc)))
        with writing(self.runtime.engine) as conn:
            issued = self.deps.confirmations.issue(
                conn, request_id=request_id, channel=Channel.MCP, session_id=session_id,
                tool_name=prepared.tool.name, args=prepared.canonical_args, preview=preview,
                secret_args=prepared.tool.secret_args, key_name=self.caller.key)
            confirmation_id = conn.execute(sa.select(pc.c.id).where(pc.c.token_id == issued.token_id)).scalar_one()
            trail.add(AuditKind.CONFIRMATION_REQUESTED, token_id=issued.token_id, confirmation_id=confirmation_id,
                      tool=prepared.tool.name, args=prepared.shown_args, preview=preview,
                      expires_at=issued.expires_at.isoformat())
            trail.flush(conn)
        trail.committed()
        return {"status": "pending_confirmation", "id": confirmation_id, "tool": prepared.tool.name,
                "args": prepared.shown_args, "preview": preview, "expires_at": issued.expires_at.isoformat(),
                "approve": f"a person approves it in the console or with `llm-planner confirm {confirmation_id}`; "
                           f"get_confirmation({confirmation_id}) tells where it stands"}, False

    def _session(self, request_id: str) -> str:
        """Each call its own session, named for the key that made it (API_KEYS names hold no
        colon): get_confirmation answers a key about its own parked calls only."""
        return f"{self._owner()}{request_id}"

    def _owner(self) -> str:
        return f"mcp:{self.caller.key or ''}:"

    def _finish(self, trail: AuditTrail, execution: ToolExecution) -> tuple[Any, bool]:
        trail.add(AuditKind.TOOL_EXECUTION, tool=execution.tool_name, args=execution.args, status=execution.status,
                  output=execution.output, error=execution.error, duration_ms=execution.duration_ms)
        trail.flush_now(self.runtime.engine)
        if execution.status != "success":
            return f"{execution.status}: {execution.error}", True
        return execution.output, False

    def confirmation(self, args: Any) -> tuple[Any, bool]:
        raw = args.get("id") if isinstance(args, dict) else None
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw < 2**63:
            return "get_confirmation takes {\"id\": N}, the id a parked call answered", True
        with self.runtime.engine.connect() as conn:
            # Only the confirmations this key's MCP calls made: a chat person's, or another
            # key's, are none of a client's business.
            row = conn.execute(sa.select(pc).where(pc.c.id == raw, pc.c.channel == Channel.MCP.value)).one_or_none()
            if row is not None and not row.session_id.startswith(self._owner()):
                row = None
            ran = None
            if row is not None and row.status == ConfirmationStatus.CONSUMED:
                ran = conn.execute(
                    sa.select(audit_events.c.data).where(audit_events.c.session_id == row.session_id,
                                                         audit_events.c.kind == AuditKind.TOOL_EXECUTION.value)
                    .order_by(audit_events.c.id.desc()).limit(1)).scalar_one_or_none()
        if row is None:
            return f"no MCP call was parked with the id {raw}", True
        state = {ConfirmationStatus.CONSUMED: "approved", ConfirmationStatus.CANCELLED: "rejected"}.get(
            row.status, "expired" if row.expires_at <= utcnow() else "pending")
        answer = {"id": row.id, "tool": row.tool_name, "state": state, "preview": row.preview,
                  "expires_at": row.expires_at.isoformat(), "decided_by": row.resolved_by,
                  "decided_at": row.resolved_at.isoformat() if row.resolved_at else None}
        if state == "approved":
            if ran is None:
                answer["result"] = None  # approved, still running
            else:
                answer["result"] = {"status": ran.get("status"), "output": ran.get("output"), "error": ran.get("error")}
        return answer, False


def build_server(runtime, key_name: str | None = None) -> Server:
    desk = McpDesk(runtime, key_name)

    async def list_tools(ctx, params) -> types.ListToolsResult:
        import anyio

        found = await anyio.to_thread.run_sync(desk.definitions)
        return types.ListToolsResult(tools=[types.Tool(name=d["name"], description=d["description"],
                                                       input_schema=d["inputSchema"]) for d in found])

    async def call_tool(ctx, params) -> types.CallToolResult:
        import anyio

        try:
            payload, is_error = await anyio.to_thread.run_sync(desk.call, params.name, params.arguments or {})
        except Exception:
            log.exception("MCP call of %s failed", params.name)
            payload, is_error = f"{params.name} failed inside the service; the log has the details", True
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, default=str)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structured_content=payload if isinstance(payload, dict) and not is_error else None,
                                    is_error=is_error)

    return Server("llm-planner", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)
