"""run_command, run_python, make_venv, pip_install: processes in the folder they are
handed (a task's folder, or the workspace), every one inside the sandbox."""

import os
import re

from pydantic import Field, field_validator, model_validator

from app.tools import ToolArgs, ToolContext, ToolError, tool
from plugins.sandboxed import INSIDE, inside, operator, run, words

VENV_PYTHON = "venv/bin/python"
# A requirement: a name, extras, version clauses. No URL, path or option reaches pip.
REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?"
                         r"((==|>=|<=|~=|!=|>|<)[A-Za-z0-9.*+!-]+)?(,(==|>=|<=|~=|!=|>|<)[A-Za-z0-9.*+!-]+)*$")


# -- run_command ---------------------------------------------------------------------


class RunCommandArgs(ToolArgs):
    argv: list[str] = Field(..., min_length=1, max_length=200,
                            description="A program's name (one the operator allows), then its arguments")
    timeout: float | None = Field(None, gt=0, le=3600, description="Seconds before it is killed")

    @field_validator("argv")
    @classmethod
    def _plain(cls, argv: list[str]) -> list[str]:
        if any("\x00" in part or len(part) > 10000 for part in argv):
            raise ValueError("an argument contains a NUL byte or is too long")
        return argv


@tool(permissions=["execute"], tag="sandboxed", render=words)
def run_command(args: RunCommandArgs, ctx: ToolContext) -> dict:
    """Run a program the operator allows (OPERATOR_FILE [commands] allow) in the folder, inside
    the sandbox: no network, nothing of the host but the system's programs."""
    program = args.argv[0]
    if "/" in program or program in (".", ".."):
        raise ToolError(f"{program!r}: give a program's name, not a path")
    allowed = operator(ctx).commands.allow
    if program not in allowed:
        raise ToolError(f"{program!r} is not in OPERATOR_FILE [commands] allow "
                        f"(allowed: {', '.join(allowed) or 'none'})")
    return {"argv": args.argv, **run(ctx, args.argv, timeout=args.timeout)}


# -- python ----------------------------------------------------------------------------


class RunPythonArgs(ToolArgs):
    path: str | None = Field(None, min_length=1, max_length=1024, description="A script in the folder")
    code: str | None = Field(None, min_length=1, max_length=100000, description="Python code to run")
    args: list[str] = Field(default_factory=list, max_length=100, description="Arguments for the script")

    @model_validator(mode="after")
    def _one(self) -> "RunPythonArgs":
        if (self.path is None) == (self.code is None):
            raise ValueError("give either path or code")
        if any("\x00" in part for part in [*self.args, self.code or ""]):
            raise ValueError("NUL bytes are refused")
        return self


def _python(ctx: ToolContext) -> str:
    """The folder's venv when it has one (made by make_venv), else the sandbox's python3."""
    return f"{INSIDE}/{VENV_PYTHON}" if os.path.lexists(ctx.workspace.root / VENV_PYTHON) else "python3"


@tool(permissions=["execute"], tag="sandboxed", render=words)
def run_python(args: RunPythonArgs, ctx: ToolContext) -> dict:
    """Run a Python script of the folder (or a piece of code) inside the sandbox, with the
    folder's venv when there is one."""
    if args.path is not None:
        script = ctx.workspace.resolve(args.path)
        if not script.is_file():
            raise ToolError(f"{args.path!r} is not a file in the folder")
        argv = [_python(ctx), inside(ctx, script), *args.args]
    else:
        argv = [_python(ctx), "-c", args.code, *args.args]
    return run(ctx, argv, what="the script")


class NoArgs(ToolArgs):
    pass


@tool(permissions=["execute"], tag="sandboxed", timeout=300)
def make_venv(args: NoArgs, ctx: ToolContext) -> dict:
    """Make the folder's Python virtual environment (`venv/`), used by run_python and pip_install."""
    if os.path.lexists(ctx.workspace.root / "venv"):
        return {"venv": "venv", "created": False}
    out = run(ctx, ["python3", "-m", "venv", "venv"], what="python3 -m venv")
    if out["exit_code"] != 0:
        raise ToolError(f"the venv could not be made: {(out['stderr'] or out['stdout']).strip()[-1000:]}",
                        output=out)
    return {"venv": "venv", "created": True, "duration_ms": out["duration_ms"]}


class PipInstallArgs(ToolArgs):
    packages: list[str] = Field(..., min_length=1, max_length=50,
                                description="Package names, optionally with versions: ['requests==2.32.3']")

    @field_validator("packages")
    @classmethod
    def _requirements(cls, packages: list[str]) -> list[str]:
        for item in packages:
            if not REQUIREMENT.fullmatch(item):
                raise ValueError(f"{item!r} is not a package name with an optional version")
        return packages


def _pip_options(ctx: ToolContext) -> tuple[list[str], dict[str, str]]:
    """OPERATOR_FILE [pip] first; else the service's own PIP_INDEX_URL (and friends)."""
    pip = operator(ctx).pip
    options = []
    if pip.index_url:
        options += ["--index-url", pip.index_url]
    for url in pip.extra_index_urls:
        options += ["--extra-index-url", url]
    for host in pip.trusted_hosts:
        options += ["--trusted-host", host]
    env = {"PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    if not pip.index_url:
        for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
            if os.environ.get(name):
                env[name] = os.environ[name]
    return options, env


def _preview_pip(args: PipInstallArgs, ctx: ToolContext) -> str:
    options, env = _pip_options(ctx)
    index = next((options[i + 1] for i, o in enumerate(options) if o == "--index-url"), None)
    index = index or env.get("PIP_INDEX_URL") or "the default index (pypi.org)"
    return f"pip install {' '.join(args.packages)}\n(into the folder's venv, from {index})"


@tool(permissions=["execute", "network"], tag="write", timeout=600, preview=_preview_pip, render=words)
def pip_install(args: PipInstallArgs, ctx: ToolContext) -> dict:
    """Install Python packages into the folder's venv (make_venv first), inside the sandbox."""
    if not os.path.lexists(ctx.workspace.root / VENV_PYTHON):
        raise ToolError("the folder has no venv yet: run make_venv first")
    options, env = _pip_options(ctx)
    out = run(ctx, [f"{INSIDE}/{VENV_PYTHON}", "-m", "pip", "install", *options, *args.packages],
               network=True, env=env, what="pip install")
    if out["exit_code"] != 0:
        raise ToolError(f"pip install failed: {(out['stderr'] or out['stdout']).strip()[-1500:]}", output=out)
    return {"packages": args.packages, **out}
