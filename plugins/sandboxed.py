"""What the process tools (plugins/process.py, plugins/git.py) share: the operator file,
the time a call may take, and one way to run a program in the sandbox and say what it did.
Not a plugin: it declares no tool."""

from pathlib import Path

from app.tools import (
    OperatorFileError,
    ToolContext,
    ToolError,
    load_operator,
    run_process,
)

INSIDE = "/workspace"  # the folder, as the sandboxed process sees it


def operator(ctx: ToolContext):
    try:
        return load_operator(ctx.settings.operator_file)
    except OperatorFileError as exc:
        raise ToolError(str(exc)) from None


def time_for(ctx: ToolContext, asked: float | None = None) -> float:
    """A second under what the executor allows, so the process is killed and reported
    before the executor gives up on the call."""
    allowed = max(1.0, ctx.timeout - 1)
    return min(asked, allowed) if asked else allowed


def run(ctx: ToolContext, argv: list[str], *, cwd: Path | None = None, timeout: float | None = None,
         network: bool = False, env: dict[str, str] | None = None, what: str | None = None,
         folder: Path | None = None) -> dict:
    """Run in the sandbox (`folder` writable, default the whole folder the tool is handed);
    a time-out or a failure to start is a ToolError, an exit code is not."""
    timeout = time_for(ctx, timeout)
    root = folder or ctx.workspace.root
    result = run_process(argv, cwd=cwd or root, folder=root, timeout=timeout, env=env,
                         max_output=ctx.max_output_size, cpu_seconds=int(timeout) + 1,
                         network=network and ctx.network, settings=ctx.settings)
    out = {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
           "truncated": result.truncated, "timed_out": result.timed_out, "duration_ms": result.duration_ms}
    if result.timed_out:
        raise ToolError(f"{what or argv[0]} timed out after {timeout:g}s and was killed with everything it started",
                        output=out)
    if result.flooded:
        raise ToolError(f"{what or argv[0]} wrote too much output and was killed", output=out)
    if result.exit_code == 126 and "sandbox:" in result.stderr:
        raise ToolError(result.stderr.strip(), output=out)
    if result.exit_code == 127 and "not found" in result.stderr and argv[0] in result.stderr:
        raise ToolError(f"{argv[0]!r} was not found on the sandbox's PATH (/usr/local/bin:/usr/bin:/bin)",
                        output=out)
    return out


def inside(ctx: ToolContext, path: Path) -> str:
    rel = ctx.workspace.relative(path)
    return INSIDE if rel == "." else f"{INSIDE}/{rel}"


def words(out: dict) -> str:
    said = (out.get("stdout") or out.get("stderr") or "").rstrip().splitlines()[-15:]
    return "\n".join([f"exit code {out.get('exit_code')}", *said])
