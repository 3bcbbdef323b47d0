"""One agent service's process: how it is started (its environment, its resources file,
tied to the life of the node that started it), asked whether it is healthy, and ended."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

RESOURCES_NAME = ".resources.json"


@dataclass
class Child:
    name: str
    port: int
    process: subprocess.Popen
    resources: Path | None
    stopping: bool = False
    restarts: list[float] = field(default_factory=list)  # when it was restarted (monotonic)
    restart_at: float | None = None  # dead: started again at this time
    healthy_by: float | None = None  # (re)started: must answer health by then


try:  # loaded now: after fork, in the child, nothing may import or take a lock
    import ctypes

    _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError, ImportError):
    _prctl = None


def die_with_parent() -> None:
    # A `serve` killed with -9 leaves no agent service behind: the kernel stops them too.
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def settings_env(settings) -> dict[str, str]:
    """A service's settings as the child's environment: it runs with what this one
    runs with, wherever they came from (environment, .env, code)."""
    env = {}
    skip = {"host", "port", "log_file", "agent_name", "agent_resources_file"}
    for name, value in settings.model_dump().items():
        if value is None or name in skip:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    return env



def write_resources(data_dir: Path, name: str, resources: dict) -> Path:
    # Under DATA_DIR, not the workspace: the file tools and the sandbox see the workspace,
    # and a chat could read an agent's credentials there.
    folder = Path(data_dir) / "agents" / name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / RESOURCES_NAME
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # its owner only, from the start
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(resources, handle)
    return path



def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def end(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM, up to `grace` seconds, then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)
