"""For tools that start a process: never a shell, argv only, a scrubbed environment, a
working directory the caller resolved inside the workspace, and hard resource limits."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class ProcessResult:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    truncated: bool
    duration_ms: int


def _limits(cpu_seconds: int | None, memory_mb: int | None, file_size_mb: int | None):
    def apply() -> None:  # runs in the child, before exec
        os.setsid()  # its own process group, so a timeout kills all it started
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        if memory_mb:
            size = memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
        if file_size_mb is not None:
            size = file_size_mb * 2**20
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


def run_process(argv: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None,
                max_output: int = 10000, cpu_seconds: int | None = 60, memory_mb: int | None = 1024,
                file_size_mb: int | None = 100) -> ProcessResult:
    if not argv or not all(isinstance(part, str) and part for part in argv):
        raise ValueError("argv must be a non-empty list of non-empty strings")
    clean_env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "HOME": str(cwd)}
    clean_env.update(env or {})
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=clean_env, shell=False, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_limits(cpu_seconds, memory_mb, file_size_mb))
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    truncated = len(stdout) > max_output or len(stderr) > max_output
    return ProcessResult(exit_code=None if timed_out else proc.returncode, stdout=stdout[:max_output],
                         stderr=stderr[:max_output], timed_out=timed_out, truncated=truncated,
                         duration_ms=int((time.perf_counter() - started) * 1000))
