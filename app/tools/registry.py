"""The allowlist: tools found through entry points and PLUGINS_DIR, nothing else."""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from app.tools.declare import BaseTool, Tool
from app.tools.errors import BadToolDeclaration

log = logging.getLogger("llm_planner.plugins")
ENTRY_POINT_GROUP = "llm_planner.plugins"


class ToolRegistry:
    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools or []:
            self.add(item, source="<code>")

    def add(self, item: Tool, source: str) -> bool:
        if item.name in self._tools:
            log.error("plugin %s: tool %r is already registered; skipped", source, item.name)
            return False
        self._tools[item.name] = item
        return True

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __iter__(self):
        return iter(self._tools[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._tools)

    def catalogue(self) -> list[dict]:
        return [item.describe() for item in self]

    def sandbox_off(self) -> "ToolRegistry":
        """The registry for SANDBOX=none: a `sandboxed` tool asks for confirmation as a
        `write` one does, since nothing contains what it runs."""
        view = ToolRegistry()
        view._tools = {name: replace(item, tag="write") if item.tag == "sandboxed" else item
                       for name, item in self._tools.items()}
        return view

    def only(self, keep) -> "ToolRegistry":
        """A view with the tools `keep(name)` accepts: what one channel may see."""
        view = ToolRegistry()
        view._tools = {name: item for name, item in self._tools.items() if keep(name)}
        return view


def tools_in(module: ModuleType) -> list[Tool]:
    """Tool objects, and BaseTool subclasses defined in this very module (not imported ones)."""
    found = []
    for value in vars(module).values():
        if isinstance(value, Tool) and getattr(value.func, "__module__", None) == module.__name__:
            found.append(value)
        elif (isinstance(value, type) and issubclass(value, BaseTool) and value is not BaseTool
              and value.__module__ == module.__name__):
            found.append(value.as_tool())
    return found


def load_registry(plugins_dir: Path | None = None) -> ToolRegistry:
    """Every plugin that loads; one that fails is logged and skipped, never fatal."""
    registry = ToolRegistry()
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        _load(registry, f"entry point {ep.name}", lambda ep=ep: ep.load())
    if plugins_dir and plugins_dir.is_dir():
        for path in sorted(plugins_dir.glob("*.py")):
            if not path.name.startswith("_"):
                _load(registry, str(path), lambda path=path: _import_file(path))
    return registry


def _load(registry: ToolRegistry, source: str, loader) -> None:
    try:
        module = loader()
        found = tools_in(module)
    except BadToolDeclaration as exc:
        log.error("plugin %s declares a bad tool: %s; skipped", source, exc)
        return
    except Exception:
        log.exception("plugin %s failed to load; skipped", source)
        return
    if not found:
        log.warning("plugin %s declares no tools", source)
    for item in found:
        registry.add(item, source)


def _import_file(path: Path) -> ModuleType:
    name = f"llm_planner_local_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
