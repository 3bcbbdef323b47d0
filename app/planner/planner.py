"""Ask the model for one plan; re-ask with the exact validation error, a bounded number of times."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.audit.chain import AuditTrail
from app.llm.base import ChatModel
from app.planner.output import PLAN_SCHEMA, PlannerOutput
from app.planner.parse import PlanRejected, parse_plan
from app.planner.prompt import PROMPTS_DIR, build_messages, correction, system_prompt
from app.tools.registry import ToolRegistry

MAX_RAW_AUDITED = 20000


@dataclass
class Usage:
    """What the model cost this turn, for the audit trail."""
    calls: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    retries: int = 0

    def add(self, reply) -> None:
        self.calls += 1
        self.prompt_tokens += reply.prompt_tokens or 0
        self.output_tokens += reply.output_tokens or 0
        self.latency_ms += reply.latency_ms
        self.retries += reply.retries


@dataclass
class PlanOutcome:
    plan: PlannerOutput | None
    attempts: int
    error: str | None = None


class Planner:
    def __init__(self, model: ChatModel, registry: ToolRegistry, max_retries: int,
                 prompts_dir: Path = PROMPTS_DIR) -> None:
        self.model = model
        self.registry = registry
        self.max_retries = max_retries
        self.prompts_dir = prompts_dir

    def plan(self, message: str, history: list[tuple[str, str]], facts: dict,
             trail: AuditTrail, usage: Usage | None = None, tools: ToolRegistry | None = None,
             memories: list[dict] = ()) -> PlanOutcome:
        """Raises ModelUnavailable / ModelNotConfigured; a bad plan is an outcome, not an error.
        `tools`: what this channel may use (default: every registered tool); `memories`: the
        person's memories most relevant to the message, shown as quoted data."""
        system = system_prompt(tools if tools is not None else self.registry, facts, history, self.prompts_dir,
                               memories=memories)
        return self.plan_with(system, message, trail, usage)

    def plan_with(self, system: str, message: str, trail: AuditTrail, usage: Usage | None = None) -> PlanOutcome:
        """The same, with a system prompt the caller built (a task's step, say)."""
        messages = build_messages(system, message)
        error = None
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            reply = self.model.chat(messages, PLAN_SCHEMA)
            if usage is not None:
                usage.add(reply)
            trail.add("model_call", provider=self.model.provider, model=reply.model, attempt=attempt,
                      latency_ms=reply.latency_ms, prompt_tokens=reply.prompt_tokens,
                      output_tokens=reply.output_tokens, retries=reply.retries,
                      raw_output=reply.text[:MAX_RAW_AUDITED])
            try:
                plan = parse_plan(reply.text)
            except PlanRejected as exc:
                error = str(exc)
                trail.add("plan_rejected", attempt=attempt, error=error)
                messages = messages + [{"role": "assistant", "content": reply.text[:4000]},
                                       {"role": "user", "content": correction(error, message)}]
                continue
            trail.add("plan", attempt=attempt, plan=plan.model_dump())
            return PlanOutcome(plan, attempt)
        return PlanOutcome(None, attempts, error)
