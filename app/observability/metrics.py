"""Prometheus metrics. Decisions are counted from the audit events once they are committed,
so the trail and the numbers cannot disagree."""

from __future__ import annotations

import os
from functools import lru_cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,  # noqa: F401  (re-exported for the route)
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("llm_planner_http_requests_total", "HTTP requests by route and status",
                   ["method", "route", "status"], registry=REGISTRY)
REQUEST_SECONDS = Histogram("llm_planner_http_request_seconds", "HTTP request duration",
                            ["route"], registry=REGISTRY,
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
TURNS = Counter("llm_planner_turns_total", "Agent turns by channel and status", ["channel", "status"],
                registry=REGISTRY)
PLANS = Counter("llm_planner_plans_total", "Plans by outcome", ["outcome"], registry=REGISTRY)
TOOLS = Counter("llm_planner_tool_executions_total", "Tool executions by tool and status",
                ["tool", "status"], registry=REGISTRY)
CONFIRMATIONS = Counter("llm_planner_confirmations_total", "Confirmation events", ["event"],
                        registry=REGISTRY)
REFUSALS = Counter("llm_planner_refusals_total", "Requests refused before a turn", ["reason"],
                   registry=REGISTRY)
MODEL_SECONDS = Histogram("llm_planner_model_call_seconds", "Model call latency, retries included",
                          ["provider"], registry=REGISTRY,
                          buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120))
MODEL_TOKENS = Counter("llm_planner_model_tokens_total", "Model tokens", ["kind"], registry=REGISTRY)


# The tools some registry declared: the only tool names used as labels. A model may name
# any tool it likes, and every new label value would be a new series kept forever.
KNOWN_TOOLS: set[str] = set()


@lru_cache(maxsize=4096)
def series(metric, *labels: str):
    """`metric.labels(...)`, looked up once: prometheus_client validates and locks each time."""
    return metric.labels(*labels)


def observe(kind: str, data: dict, channel: str | None) -> None:
    if kind == "response":
        series(TURNS, channel or "none", data.get("status", "unknown")).inc()
    elif kind == "plan":
        series(PLANS, "valid_first_time" if data.get("attempt") == 1 else "valid_after_retry").inc()
    elif kind == "plan_rejected":
        series(PLANS, "rejected_attempt").inc()
    elif kind == "model_unavailable":
        series(PLANS, "model_unavailable").inc()
    elif kind == "tool_execution":
        tool = data.get("tool") if data.get("tool") in KNOWN_TOOLS else "unknown"
        series(TOOLS, tool, data.get("status", "unknown")).inc()
    elif kind.startswith("confirmation_"):
        series(CONFIRMATIONS, kind[len("confirmation_"):]).inc()
    elif kind in ("rate_limited", "signature_rejected", "request_rejected", "auth_failed"):
        series(REFUSALS, kind).inc()
    elif kind == "model_call":
        series(MODEL_SECONDS, data.get("provider", "unknown")).observe((data.get("latency_ms") or 0) / 1000)
        series(MODEL_TOKENS, "prompt").inc(data.get("prompt_tokens") or 0)
        series(MODEL_TOKENS, "output").inc(data.get("output_tokens") or 0)


def exposition() -> bytes:
    """With several workers, set PROMETHEUS_MULTIPROC_DIR and every worker's numbers are summed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
