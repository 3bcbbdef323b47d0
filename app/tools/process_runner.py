"""For tools that start a process: never a shell, argv only, inside the sandbox
(app/tools/sandbox.py), a scrubbed environment, hard resource limits, output capped while
it is read, and the whole tree killed at the timeout."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from app.tools import sandbox

SAFE_PATH = sandbox.PATH
# Past this much output (both streams) the process is killed: a flood cannot fill the
# service's memory, nor keep a core busy until its timeout.
FLOOD_BYTES = 8 * 2**20


@dataclass
class ProcessResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool
    duration_ms: int
    flooded: bool = False  # killed for writing more than FLOOD_BYTES
    sandboxed: bool = True


def run_process(argv: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None,
                max_output: int = 10000, cpu_seconds: int | None = 60, memory_mb: int | None = None,
                file_size_mb: int | None = None, folder: Path | None = None, network: bool = False,
                settings=None) -> ProcessResult:
    """Run `argv` in the sandbox with `folder` (default `cwd`) writable, starting in `cwd`.
    `settings` gives SANDBOX and its limits (default: read from the environment); limits
    asked here are capped by SANDBOX_MAX_*. Raises SandboxUnavailable (a ToolError) when
    the sandbox cannot start, FileNotFoundError/PermissionError when SANDBOX=none and the
    program is missing."""
    if settings is None:
        from app.config import Settings
        settings = Settings()
    launch = sandbox.wrap(argv, Path(folder or cwd), network=network, settings=settings, cwd=Path(cwd),
                          env=env, cpu_seconds=cpu_seconds, memory_mb=memory_mb, file_size_mb=file_size_mb)
    started = time.perf_counter()
    proc = subprocess.Popen(**launch.popen_args(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err, timed_out, flooded = _collect(proc, timeout, max_output)
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    truncated = flooded or len(stdout) > max_output or len(stderr) > max_output
    return ProcessResult(exit_code=None if timed_out else proc.returncode, stdout=stdout[:max_output],
                         stderr=stderr[:max_output], timed_out=timed_out, truncated=truncated,
                         duration_ms=int((time.perf_counter() - started) * 1000), flooded=flooded,
                         sandboxed=launch.sandboxed)


def kill_tree(proc: subprocess.Popen) -> None:
    """Its session is its process group; in the sandbox, bwrap's death ends its PID
    namespace, so nothing it started survives."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _collect(proc: subprocess.Popen, timeout: float, max_output: int) -> tuple[bytes, bytes, bool, bool]:
    """Read both streams until they close, keeping at most ~4 * max_output bytes of each."""
    keep = max(4 * max_output, 4096)
    chunks = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    total = 0
    timed_out = flooded = False
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for stream in chunks:
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                total += len(data)
                buffer = chunks[key.fileobj]
                if len(buffer) < keep:
                    buffer += data[: keep - len(buffer)]
            if total > FLOOD_BYTES:
                flooded = True
                break
    if not (timed_out or flooded):
        timed_out = not _exited(proc, deadline)
    # Also when it ended by itself: what it left running in the background goes with it
    # (before reaping, while its process group cannot belong to anyone else).
    kill_tree(proc)
    for stream in chunks:
        stream.close()
    proc.wait()
    return bytes(chunks[proc.stdout]), bytes(chunks[proc.stderr]), timed_out, flooded


def _exited(proc: subprocess.Popen, deadline: float) -> bool:
    """Wait (without reaping) for it to end, until the deadline."""
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
