"""`llm-planner eval SUITE`: how well the configured model plans, case by case.

A suite is a TOML file of cases: the user's message, the tools a good plan calls, and the
key arguments it must give them. Plans are asked for and scored, never executed."""

from __future__ import annotations

import statistics
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.audit.chain import AuditTrail
from app.llm.base import ModelNotConfigured, ModelUnavailable
from app.planner.output import PlannerOutput
from app.planner.planner import Planner
from app.tools.registry import ToolRegistry


@dataclass
class Case:
    id: str
    input: str
    tools: list[str] = field(default_factory=list)
    args: dict[str, dict] = field(default_factory=dict)
    lang: str = "en"


@dataclass
class CaseResult:
    id: str
    lang: str
    valid_first_time: bool
    valid: bool
    attempts: int
    right_tools: bool
    right_args: bool
    latency_ms: int
    tools: list[str]
    error: str | None = None


class SuiteError(ValueError):
    pass


def load_suite(path: Path) -> list[Case]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SuiteError(f"{path}: {exc}") from None
    try:
        cases = [Case(**case) for case in data.get("case", [])]
    except TypeError as exc:
        raise SuiteError(f"{path}: a [[case]] is not understood ({exc})") from None
    if not cases:
        raise SuiteError(f"{path} has no [[case]] entries")
    bad = [case.id for case in cases if not isinstance(case.input, str) or not case.input.strip()]
    if bad:
        raise SuiteError(f"{path}: case(s) {bad} need an `input` text")
    return cases


def _norm(value):
    if isinstance(value, str):
        value = value.strip()
        while value.startswith("./"):
            value = value[2:]
        return value.rstrip("/") or "."
    return value


def score(case: Case, plan: PlannerOutput | None) -> tuple[bool, bool]:
    if plan is None:
        return False, False
    called = sorted(call.tool for call in plan.tool_calls)
    right_tools = called == sorted(case.tools)
    right_args = right_tools and all(
        any(call.tool == tool and all(_norm(call.args.get(k)) == _norm(v) for k, v in expected.items())
            for call in plan.tool_calls)
        for tool, expected in case.args.items())
    return right_tools, right_args


def run_case(planner: Planner, case: Case, tools: ToolRegistry | None = None) -> CaseResult:
    """`tools`: what the model is offered (default: every tool the planner knows)."""
    started = time.perf_counter()
    trail = AuditTrail(None, "eval", case.id)  # kept in memory, never written
    try:
        outcome = planner.plan(case.input, [], {}, trail, tools=tools)
    except (ModelUnavailable, ModelNotConfigured) as exc:
        return CaseResult(case.id, case.lang, False, False, 0, False, False,
                          int((time.perf_counter() - started) * 1000), [], error=str(exc))
    right_tools, right_args = score(case, outcome.plan)
    tools = [call.tool for call in outcome.plan.tool_calls] if outcome.plan else []
    return CaseResult(case.id, case.lang, outcome.plan is not None and outcome.attempts == 1,
                      outcome.plan is not None, outcome.attempts, right_tools, right_args,
                      int((time.perf_counter() - started) * 1000), tools, outcome.error)


def summarize(results: list[CaseResult]) -> dict:
    n = len(results)
    latencies = sorted(r.latency_ms for r in results)

    def share(flag: str) -> float:
        return round(sum(getattr(r, flag) for r in results) / n, 3) if n else 0.0

    return {"cases": n, "valid_first_time": share("valid_first_time"), "valid": share("valid"),
            "right_tools": share("right_tools"), "right_args": share("right_args"),
            "latency_ms_p50": int(statistics.median(latencies)) if latencies else 0,
            "latency_ms_max": latencies[-1] if latencies else 0}


def report(results: list[CaseResult], summary: dict) -> str:
    mark = {True: "yes", False: "-"}
    lines = [f"{'case':<28} {'lang':<4} {'1st':<4} {'valid':<5} {'tools':<5} {'args':<5} {'ms':>7}  called"]
    for r in results:
        lines.append(f"{r.id[:28]:<28} {r.lang:<4} {mark[r.valid_first_time]:<4} {mark[r.valid]:<5} "
                     f"{mark[r.right_tools]:<5} {mark[r.right_args]:<5} {r.latency_ms:>7}  "
                     f"{','.join(r.tools) or '(none)'}{'  ! ' + r.error if r.error else ''}")
    lines.append("")
    lines.append(f"{summary['cases']} cases: valid first time {summary['valid_first_time']:.0%}, "
                 f"valid {summary['valid']:.0%}, right tools {summary['right_tools']:.0%}, "
                 f"right arguments {summary['right_args']:.0%}, latency p50 {summary['latency_ms_p50']} ms")
    return "\n".join(lines)


def run_suite(planner: Planner, cases: list[Case],
              tools: ToolRegistry | None = None) -> tuple[list[CaseResult], dict]:
    results = [run_case(planner, case, tools) for case in cases]
    return results, summarize(results)


def as_json(results: list[CaseResult], summary: dict, model: str) -> dict:
    return {"model": model, "summary": summary, "cases": [asdict(r) for r in results]}
