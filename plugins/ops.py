"""tail_log, run_job, http_get: reaching beyond the workspace, only where OPERATOR_FILE says."""

import json
import os
import posixpath
import shlex
import signal
import subprocess

import httpx
from pydantic import Field

from app.tools import (
    OperatorFileError,
    ToolArgs,
    ToolContext,
    ToolError,
    load_operator,
    run_process,
    tool,
)

NAME = r"^[A-Za-z0-9_.-]{1,64}$"
TAIL_BLOCK = 64 * 1024
TAIL_MAX_BYTES = 4 * 2**20
TAIL_LINES, TAIL_CHARS = 20, 2000  # of a failed job's output, in its error


def _operator(ctx: ToolContext):
    try:
        return load_operator(ctx.settings.operator_file)
    except OperatorFileError as exc:
        raise ToolError(str(exc)) from None


def _declared(kind: str, table: dict, name: str):
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise ToolError(f"no {kind} named {name!r} is declared in OPERATOR_FILE (declared: {known})")
    return table[name]


class TailLogArgs(ToolArgs):
    name: str = Field(..., pattern=NAME, description="A log name declared by the operator")
    lines: int = Field(50, ge=1, le=1000, description="How many of the last lines")


@tool(permissions=["read"], tag="read")
def tail_log(args: TailLogArgs, ctx: ToolContext) -> dict:
    """The last lines of a log file the operator declared by name."""
    path = _declared("log", _operator(ctx).logs, args.name)
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = position = handle.tell()
            data = b""
            # Read backwards in blocks until there are enough lines (or the cap is reached).
            while position > 0 and data.count(b"\n") <= args.lines and end - position < TAIL_MAX_BYTES:
                step = min(TAIL_BLOCK, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except FileNotFoundError:
        raise ToolError(f"log {args.name!r} does not exist yet ({path})") from None
    except PermissionError:
        raise ToolError(f"log {args.name!r} is not readable by this service") from None
    lines = data.decode("utf-8", "replace").splitlines()[-args.lines:]
    content = "\n".join(lines)
    truncated = len(content) > ctx.max_output_size
    return {"name": args.name, "lines": len(lines),
            "content": content[-ctx.max_output_size:] if truncated else content, "truncated": truncated}


class RunJobArgs(ToolArgs):
    name: str = Field(..., pattern=NAME, description="A job name declared by the operator")
    params: dict[str, str] = Field(default_factory=dict, description="Only the job's declared parameters")


def _job_command(args: RunJobArgs, ctx: ToolContext):
    job = _declared("job", _operator(ctx).jobs, args.name)
    unknown = sorted(set(args.params) - set(job.params))
    if unknown:
        raise ToolError(f"job {args.name!r} takes no parameter(s) {unknown}; declared: {sorted(job.params) or 'none'}")
    missing = sorted(set(job.params) - set(args.params))
    if missing:
        raise ToolError(f"job {args.name!r} needs parameter(s) {missing}")
    for key, value in args.params.items():
        if not job.params[key].check(value):
            raise ToolError(f"parameter {key}={value!r} is not allowed for job {args.name!r}")
    cwd = ctx.workspace.resolve(job.cwd)
    if not cwd.is_dir():
        state = "is not a folder" if cwd.exists() else "does not exist"
        raise ToolError(f"job {args.name!r}: its working directory {job.cwd!r} {state} in the workspace")
    return job, job.render(args.params), cwd, job.effective_timeout(ctx.timeout)


def _preview_job(args: RunJobArgs, ctx: ToolContext) -> str:
    job, argv, cwd, timeout = _job_command(args, ctx)
    return f"run job {args.name}: {shlex.join(argv)}\n(in {ctx.workspace.relative(cwd)}, timeout {timeout:g}s)"


def _job_words(out: dict) -> str:
    said = (out["stdout"] or out["stderr"]).strip().splitlines()[-15:]
    return "\n".join([f"job {out['job']} finished in {out['duration_ms'] / 1000:.1f} s", *said])


@tool(permissions=["execute"], tag="write", preview=_preview_job, render=_job_words)
def run_job(args: RunJobArgs, ctx: ToolContext) -> dict:
    """Run a job the operator declared (deploy, build, backup, restart…); asks for confirmation."""
    job, argv, cwd, timeout = _job_command(args, ctx)
    try:
        # In the sandbox, the workspace writable; SANDBOX_MAX_* cap the job's own limits.
        result = run_process(argv, cwd=cwd, timeout=timeout, env=job.env, max_output=ctx.max_output_size,
                             cpu_seconds=job.cpu_seconds or int(timeout) + 1, memory_mb=job.memory_mb,
                             file_size_mb=job.file_size_mb, folder=ctx.workspace.root, settings=ctx.settings)
    except FileNotFoundError:
        raise ToolError(f"job {args.name!r}: {argv[0]!r} was not found") from None
    except PermissionError:
        raise ToolError(f"job {args.name!r}: {argv[0]!r} is not executable") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolError(f"job {args.name!r}: {argv[0]!r} could not be started "
                        f"({getattr(exc, 'strerror', None) or exc})") from None
    if result.timed_out:
        raise ToolError(f"job {args.name!r} timed out after {timeout:g}s{_tail(result)}",
                        output={"job": args.name, "timed_out": True, "stdout": result.stdout,
                                "stderr": result.stderr, "duration_ms": result.duration_ms})
    if result.exit_code != 0:
        raise ToolError(f"job {args.name!r} failed with exit code {result.exit_code}"
                        f"{_signal(result.exit_code)}{_tail(result)}")
    return {"job": args.name, "argv": argv, "exit_code": result.exit_code, "timed_out": result.timed_out,
            "stdout": result.stdout, "stderr": result.stderr, "truncated": result.truncated,
            "duration_ms": result.duration_ms}


def _signal(exit_code: int) -> str:
    try:  # a negative code is the signal that ended it (SIGXCPU: its CPU limit, SIGKILL: memory)
        return f" (killed by {signal.Signals(-exit_code).name})" if exit_code < 0 else ""
    except ValueError:
        return ""


def _tail(result) -> str:
    """The last lines of what the job said, stderr first: where a failure explains itself."""
    stream, text = ("stderr", result.stderr) if result.stderr.strip() else ("stdout", result.stdout)
    lines = text.rstrip().splitlines()[-TAIL_LINES:]
    if not lines:
        return " (no output)"
    tail = "\n".join(lines)[-TAIL_CHARS:]
    cut = f" (its output was cut at {len(text)} characters)" if result.truncated else ""
    return f"; last lines of {stream}{cut}:\n{tail}"


class HttpGetArgs(ToolArgs):
    api: str = Field(..., pattern=NAME, description="An API name declared by the operator")
    path: str = Field("/", max_length=2048, description="Path under the API's base URL")
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Query parameters")


def _url(base_url: str, path: str) -> str:
    if any(mark in path for mark in ("://", "\\", "@", "#")) or path.startswith("//") or "\x00" in path:
        raise ToolError("path must be a plain path under the API's base URL")
    base = httpx.URL(base_url)
    prefix = base.path.rstrip("/")
    joined = posixpath.normpath(f"{prefix}/{path.lstrip('/')}") if path.strip("/") else (prefix or "/")
    if prefix and not (joined == prefix or joined.startswith(prefix + "/")):
        raise ToolError("path leaves the API's base URL")
    url = base.copy_with(path=joined if joined.startswith("/") else "/" + joined, query=None)
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        raise ToolError("only the declared host may be reached")
    return str(url)


def _http_words(out: dict) -> str:
    head = f"{out['api']}: HTTP {out['status']}" + (" (cut)" if out.get("truncated") else "")
    if "json" in out:
        from json import dumps
        body = dumps(out["json"], ensure_ascii=False, indent=1)
    else:
        body = out.get("text") or ""
    return f"{head}\n{body}".rstrip()


@tool(permissions=["network"], tag="read", render=_http_words)
def http_get(args: HttpGetArgs, ctx: ToolContext) -> dict:
    """GET from an API the operator declared; no other host is reachable."""
    api = _declared("API", _operator(ctx).apis, args.api)
    url = _url(api.base_url, args.path)
    params = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in args.params.items()}
    body, truncated = b"", False
    try:
        # Redirects are not followed: they could lead to a host nobody declared.
        with httpx.Client(timeout=min(api.timeout, ctx.timeout), follow_redirects=False) as client:
            with client.stream("GET", url, params=params, headers=api.resolved_headers()) as response:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > api.max_bytes:
                        body, truncated = body[: api.max_bytes], True
                        break
    except httpx.TimeoutException:
        raise ToolError(f"{args.api} did not answer within {min(api.timeout, ctx.timeout):g}s") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"{args.api} could not be reached ({type(exc).__name__})") from None
    text = body.decode(response.encoding or "utf-8", "replace")
    result = {"api": args.api, "url": url, "status": response.status_code,
              "content_type": response.headers.get("content-type"), "truncated": truncated}
    if response.is_redirect:
        result["location"] = response.headers.get("location")
    if "json" in (result["content_type"] or "") and not truncated:
        try:
            result["json"] = json.loads(text) if body else None
            return result
        except ValueError:
            pass
    result["text"] = text
    return result
