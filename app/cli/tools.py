"""`llm-planner tools` and `llm-planner eval`."""

from __future__ import annotations

import json
import sys

from app.cli.settings import load_settings


def cmd_tools(args) -> int:
    from app.tools.operator_file import operator_warnings
    from app.tools.registry import load_registry

    settings = load_settings()
    registry = load_registry(settings.plugins_dir)
    if settings.sandbox == "none":
        registry = registry.sandbox_off()  # as `serve` offers them: confirmed like a write
    warnings = operator_warnings(settings)
    for line in _add_mcp_tools(settings, registry):
        print(f"warning: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(registry.catalogue(), indent=2))
        for line in warnings:  # beside the catalogue, so the JSON stays what it was
            print(f"warning: {line}", file=sys.stderr)
        return 0
    for item in registry.catalogue():
        blocked = sorted(set(item["permissions"]) & settings.blocked)
        note = f"  [blocked: {', '.join(blocked)}]" if blocked else ""
        tool = registry.get(item["name"])
        if tool.gate is not None and tool.gate():  # an MCP tool not (or no longer) trusted
            note += "  [not trusted: llm-planner mcp status]"
        print(f"{item['name']}  tag={item['tag']}  permissions={','.join(item['permissions'])}{note}")
        print(f"    {item['description']}")
        print(f"    args: {json.dumps(item['args_schema'].get('properties', {}))}")
        if item["name"] == "run_job":
            for line in warnings:
                print(f"    warning: {line}")
    return 0


def _add_mcp_tools(settings, registry) -> list[str]:
    """The operator file's [mcp.NAME] tools, as `serve` adds them (their definitions come
    from the pins in the database); a warning instead when the database cannot say."""
    from app.mcp.client import McpTools
    from app.store.db import create_db_engine

    probe = McpTools(settings, engine=None)  # type: ignore[arg-type]
    if not probe.servers():
        return []
    engine = create_db_engine(settings.db_url)
    try:
        McpTools(settings, engine).register(registry)
        registry.catalogue()  # reads the pins now, while a failure can still be said
    except Exception as exc:  # noqa: BLE001 - a listing command: say it and list the rest
        return [f"the MCP servers' tools are not listed: {str(exc).splitlines()[0][:200]}"]
    finally:
        engine.dispose()
    return []


def cmd_eval(args) -> int:
    from pathlib import Path

    from app.channel import Channel
    from app.llm import build_model
    from app.planner.evals import SuiteError, as_json, load_suite, report, run_suite
    from app.planner.planner import Planner
    from app.tools.filter import ToolFilter
    from app.tools.policy import PolicyError, load_policy
    from app.tools.registry import load_registry

    settings = load_settings()
    try:
        cases = load_suite(Path(args.suite))
        policy = load_policy(settings.policy_file)
    except (SuiteError, PolicyError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    model = build_model(settings)
    registry = load_registry(settings.plugins_dir)
    # The model is offered what `serve` would offer it on the api channel, nothing more.
    offered = ToolFilter(registry, policy, settings.blocked).visible(Channel.API)
    planner = Planner(model, registry, settings.planner_max_retries)
    results, summary = run_suite(planner, cases, offered)
    name = f"{model.provider}:{getattr(model, 'model', None)} at {model.url}"
    document = as_json(results, summary, name)
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(f"model {name}\n")
        print(report(results, summary))
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(document, indent=2, ensure_ascii=False))
        except OSError as exc:
            print(f"cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 1
    return 2 if all(r.error for r in results) else 0


def add(sub) -> None:
    tools = sub.add_parser("tools", help="the tool catalogue: name, tag, permissions, arguments")
    tools.add_argument("--json", action="store_true")
    tools.set_defaults(func=cmd_tools)
    evaluate = sub.add_parser("eval", help="run a suite of instructions through the configured model")
    evaluate.add_argument("suite", help="a TOML suite, e.g. evals/base_tools.toml")
    evaluate.add_argument("--format", choices=["table", "json"], default="table")
    evaluate.add_argument("--json", metavar="FILE", help="also write the JSON report to FILE")
    evaluate.set_defaults(func=cmd_eval)
