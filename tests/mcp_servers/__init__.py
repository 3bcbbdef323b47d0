"""Small MCP servers and clients the suite drives; `mcp1_python()`: a Python with the 1.x line
of `mcp`, for the peers that still run it; `in_sandbox(folder)`: the servers and the `mcp`
package put where a command server started inside the sandbox finds them."""

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


SITE = Path.home() / ".cache" / "llm-planner-tests"
SANDBOX_PYTHON = "/usr/bin/python3"  # the python3 a sandboxed command server runs, when the system has one


def mcp_site() -> Path:
    """A folder with this `mcp` version and its dependencies (uv pip install --target), for
    the Python the sandbox shows; made once and kept under ~/.cache, like mcp1_python()."""
    from importlib.metadata import version

    wanted = version("mcp")
    site = SITE / f"mcp-site-{wanted}"
    if (site / "mcp").is_dir():
        return site
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to install mcp for the sandbox")
    python = SANDBOX_PYTHON if Path(SANDBOX_PYTHON).exists() else sys.executable
    site.parent.mkdir(parents=True, exist_ok=True)
    with open(site.parent / "mcp-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (site / "mcp").is_dir():
            return site
        building = site.parent / f"mcp-site-building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        made = subprocess.run([uv, "pip", "install", "-q", "--python", python, "--target", str(building),
                               f"mcp=={wanted}"], capture_output=True, text=True, timeout=300)
        if made.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            raise RuntimeError(f"could not install mcp for the sandbox: {made.stderr[-500:]}")
        building.rename(site)
    return site


def in_sandbox(folder: Path) -> str:
    """Copy the suite's servers and the `mcp` package into `folder` (the workspace a
    sandboxed server sees at /workspace); the [mcp.NAME] `env` line that finds the package."""
    # Never over a copy a running server has open: rewriting its files under it kills it.
    if not (folder / ".mcp-site").exists():
        shutil.copytree(mcp_site(), folder / ".mcp-site")
    for server in ("demo.py", "garbage.py"):
        if not (folder / server).exists():
            shutil.copy(Path(__file__).parent / server, folder / server)
    return 'env = { PYTHONPATH = "/workspace/.mcp-site" }'
