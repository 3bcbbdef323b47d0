"""Small MCP servers and clients the suite drives; `mcp1_python()`: a Python with the 1.x line
of `mcp`, for the peers that still run it."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

MCP1 = Path.home() / ".cache" / "llm-planner-tests" / "mcp1"


def mcp1_python() -> Path:
    """A venv with `mcp<2`, made once (uv venv + uv pip install) and kept under ~/.cache.
    Raises RuntimeError when it cannot be made (no uv, no package registry). Under
    pytest-xdist two workers may ask at once: one makes it (behind a file lock, in a folder
    of its own renamed into place when complete), the other waits and uses it."""
    python = MCP1 / "bin" / "python"
    if python.exists():
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to make the mcp 1.x venv")
    MCP1.parent.mkdir(parents=True, exist_ok=True)
    with open(MCP1.parent / "mcp1.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists():
            return python
        building = MCP1.parent / f"mcp1-building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        made = subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(building)], capture_output=True,
                              text=True, timeout=120)
        installed = made.returncode == 0 and subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(building / "bin" / "python"), "mcp<2"],
            capture_output=True, text=True, timeout=300).returncode == 0
        if not installed:
            shutil.rmtree(building, ignore_errors=True)
            raise RuntimeError("could not make the mcp 1.x venv (is the package registry reachable?)")
        building.rename(MCP1)
    return python
