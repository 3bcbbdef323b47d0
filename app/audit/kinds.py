"""Every kind of audit event: a closed vocabulary, so a misspelt kind is an error, not a
row nobody finds. The values are what `audit_events.kind` stores."""

from __future__ import annotations

from enum import StrEnum


class AuditKind(StrEnum):
    # a turn
    REQUEST = "request"
    COMMAND = "command"
    COMMAND_REJECTED = "command_rejected"
    MODEL_CALL = "model_call"
    MODEL_UNAVAILABLE = "model_unavailable"
    PLAN = "plan"
    PLAN_REJECTED = "plan_rejected"
    ANSWER_SKIPPED = "answer_skipped"
    TOOL_EXECUTION = "tool_execution"
    BUDGET_EXCEEDED = "budget_exceeded"
    RESPONSE = "response"
    INTERNAL_ERROR = "internal_error"
    # confirmations
    CONFIRMATION_REQUESTED = "confirmation_requested"
    CONFIRMATION_CONSUMED = "confirmation_consumed"
    CONFIRMATION_CANCELLED = "confirmation_cancelled"
    CONFIRMATION_REJECTED = "confirmation_rejected"  # a refused token, or an operator's rejection (rejected_by)
    CONFIRMATION_APPROVED = "confirmation_approved"  # an operator's approval (approved_by)
    SESSION_UNLOCKED = "session_unlocked"  # an operator cleared the wrong-code lock (unlocked_by)
    # deliveries
    DUPLICATE_DELIVERY = "duplicate_delivery"
    DELIVERY_RECOVERED = "delivery_recovered"
    REPLY_SENT = "reply_sent"
    REPLY_FAILED = "reply_failed"
    # refusals before a turn
    AUTH_FAILED = "auth_failed"
    RATE_LIMITED = "rate_limited"
    REQUEST_REJECTED = "request_rejected"
    SIGNATURE_REJECTED = "signature_rejected"
    # tasks: every update of a task (its type in the data), with the task's id as session
    TASK_UPDATE = "task_update"
    # dynamic permissions: a `policy grant`/`revoke` (changed_by names its author)
    POLICY_CHANGED = "policy_changed"
    # memory: an operator deleted a person's memories (who, id or all, how many, forgotten_by)
    MEMORIES_FORGOTTEN = "memories_forgotten"
    # MCP: an operator trusted a server's tools (pins, by); a pinned tool's definition changed
    MCP_TRUSTED = "mcp_trusted"
    MCP_TOOL_CHANGED = "mcp_tool_changed"
    # console: an operator signed out (the sign-in's id as session): that cookie is refused after
    CONSOLE_SIGNED_OUT = "console_signed_out"
    # agents: a service launched or stopped on someone's word (agents, their status, by)
    AGENTS_LAUNCHED = "agents_launched"
    AGENTS_STOPPED = "agents_stopped"
