"""git and git_push: the git program inside the sandbox, remotes the operator allows, and
the token kept where neither the model nor the repository it could configure can reach it."""

import fnmatch
import os
import re
import shlex
import shutil
from pathlib import Path
from typing import Literal

from pydantic import Field

from app.tools import ToolArgs, ToolContext, ToolError, tool
from plugins.sandboxed import INSIDE, inside, operator, run

REF = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$"
TOKEN_VARIABLE = "LLM_PLANNER_GIT_TOKEN"
# Keys of a repository's own config that could send git (and the token) somewhere the
# allowlist did not check, or run a program: the repository is refused while they are set.
RISKY_GIT_KEYS = re.compile(r"^(url\..*\.(insteadof|pushinsteadof)|core\.(sshcommand|askpass|gitproxy|fsmonitor"
                            r"|hookspath|pager|editor)|credential\..*|http\.(.*\.)?(proxy|extraheader|cookiefile)"
                            r"|remote\.[^.]*\.(proxy|receivepack|uploadpack|vcs|pushurl)|include\..*|includeif\..*)$")


def remote_allowed(url: str, patterns: list[str]) -> str | None:
    """Why `url` may not be used as a remote, or None. http(s) and ssh only, no password in
    the URL, and matching one of the operator's glob patterns."""
    if not url or url.startswith("-") or any(c.isspace() for c in url) or "\x00" in url:
        return "not a URL"
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/]*)", url)
    if match:
        if match.group(1).lower() not in ("http", "https", "ssh"):
            return f"scheme {match.group(1)!r} is refused: http(s) and ssh only"
        if ":" in match.group(2).rpartition("@")[0]:
            return "a password in the URL is refused (use [git] token)"
    elif not re.match(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]", url):  # scp-like ssh: git@host:path
        return "only http(s) and ssh remotes are allowed"
    if not any(fnmatch.fnmatchcase(url, pattern) for pattern in patterns):
        return "it matches no pattern in OPERATOR_FILE [git] remotes"
    return None


class GitArgs(ToolArgs):
    action: Literal["init", "clone", "pull", "status", "diff", "log", "commit"]
    path: str | None = Field(None, max_length=1024, description="The repository's folder inside the folder")
    remote: str | None = Field(None, max_length=2048, description="clone: the URL; pull: a remote's name or URL")
    message: str | None = Field(None, min_length=1, max_length=5000, description="commit: the message")


class GitPushArgs(ToolArgs):
    path: str = Field(".", max_length=1024, description="The repository's folder inside the folder")
    remote: str | None = Field(None, max_length=2048, description="A remote's name or URL (default origin)")
    branch: str | None = Field(None, pattern=REF, description="The branch to push (default the current one)")


def _git_base(ctx: ToolContext, token: str | None) -> tuple[list[str], dict[str, str]]:
    """git with only http(s)/ssh transports, no hooks, no user or system config, and the
    token (if any) handed by a credential helper that reads it from the environment: it is
    in no argv, no URL, no .git/config."""
    argv = ["git", "-c", "protocol.allow=never", "-c", "protocol.http.allow=always",
            "-c", "protocol.https.allow=always", "-c", "protocol.ssh.allow=always",
            "-c", "core.hooksPath=/dev/null", "-c", "credential.helper="]
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
           "GIT_AUTHOR_NAME": "llm-planner", "GIT_AUTHOR_EMAIL": "llm-planner@localhost",
           "GIT_COMMITTER_NAME": "llm-planner", "GIT_COMMITTER_EMAIL": "llm-planner@localhost"}
    if token:
        argv += ["-c", "credential.helper=!f() { test \"$1\" = get && echo username=x-access-token"
                       f" && echo \"password=${TOKEN_VARIABLE}\"; }}; f"]
        env[TOKEN_VARIABLE] = token
    return argv, env


def _git(ctx: ToolContext, repo: Path, args: list[str], *, network: bool = False, token: str | None = None,
         what: str = "git", folder: Path | None = None, local_transport: bool = False) -> dict:
    base, env = _git_base(ctx, token)
    if local_transport:  # our own scratch repository, named by its path: nothing else
        base += ["-c", "protocol.file.allow=always"]
    out = run(ctx, [*base, *args], cwd=repo, network=network, env=env, what=what, folder=folder)
    if token:  # git does not print it; this makes sure nothing it printed carries it
        for key in ("stdout", "stderr"):
            out[key] = out[key].replace(token, "[secret]")
    return out


class _Scratch:
    """A bare repository of our own inside `repo/.git/`, for the one step that holds the
    token: that step sees only this folder (its config, hooks and attributes are ours), never
    the repository a tool or the model could have configured — a filter, a diff or merge
    driver, an ssh config there would otherwise run with the token in its environment. The
    steps in the repository itself run without the token and without the network."""

    def __init__(self, ctx: ToolContext, repo: Path) -> None:
        self.ctx, self.repo = ctx, repo
        self.path = repo / ".git" / f"llm-planner-{os.urandom(6).hex()}"

    def __enter__(self) -> "_Scratch":
        self.path.mkdir()
        _checked(_git(self.ctx, self.path, ["init", "-q", "--bare", INSIDE], folder=self.path), "git init")
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def inside(self) -> str:
        return inside(self.ctx, self.path)

    def scrub(self) -> None:
        """After a step in the repository wrote to it: back to what only we put there."""
        for name in ("hooks", "info"):
            shutil.rmtree(self.path / name, ignore_errors=True)
        (self.path / "objects" / "info" / "alternates").unlink(missing_ok=True)
        (self.path / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = true\n")

    def with_token(self, args: list[str], token: str | None, what: str) -> dict:
        return _git(self.ctx, self.path, ["--git-dir", INSIDE, *args], network=True, token=token, what=what,
                    folder=self.path)


def _checked(out: dict, what: str) -> dict:
    if out["exit_code"] != 0:
        raise ToolError(f"{what} failed: {(out['stderr'] or out['stdout']).strip()[-1500:]}", output=out)
    return out


def _repo(ctx: ToolContext, path: str | None) -> Path:
    repo = ctx.workspace.resolve(path or ".")
    if not (repo / ".git").is_dir():
        raise ToolError(f"{path or '.'!r} is not a git repository in the folder")
    return repo


def _remote_url(ctx: ToolContext, repo: Path, remote: str | None) -> str:
    """The URL to reach: `remote` itself when it is a URL, else that remote's (default origin)
    URL from the repository, checked against [git] remotes; a repository whose own config
    could redirect git is refused."""
    risky = [key for key in _git(ctx, repo, ["config", "--local", "--name-only", "--list"])["stdout"].split()
             if RISKY_GIT_KEYS.match(key.lower())]
    if risky:
        raise ToolError(f"the repository's .git/config sets {', '.join(risky)}, which could send git "
                        f"elsewhere: remove them first")
    name = remote or "origin"
    if re.fullmatch(r"[A-Za-z0-9._-]{1,100}", name) and not name.startswith("-"):
        got = _git(ctx, repo, ["config", "--local", "--get", f"remote.{name}.url"])
        if got["exit_code"] != 0 or not got["stdout"].strip():
            raise ToolError(f"the repository has no remote named {name!r}")
        url = got["stdout"].strip()
    else:
        url = name
    why = remote_allowed(url, operator(ctx).git.remotes)
    if why:
        raise ToolError(f"remote {url!r} is refused: {why}")
    return url


def _git_words(out: dict) -> str:
    return (out.get("stdout") or out.get("stderr") or "").strip() or f"git {out.get('action', '')}: done"


@tool(permissions=["execute", "network"], tag="sandboxed", timeout=300, render=_git_words)
def git(args: GitArgs, ctx: ToolContext) -> dict:
    """git inside the sandbox: init, clone (remotes the operator allows), pull, status, diff,
    log, commit (of everything changed)."""
    config = operator(ctx).git
    if args.action == "clone":
        if not args.remote:
            raise ToolError("clone needs remote (the repository's URL)")
        why = remote_allowed(args.remote, config.remotes)
        if why:
            raise ToolError(f"remote {args.remote!r} is refused: {why}")
        name = args.path or re.sub(r"\.git$", "", args.remote.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
        target = ctx.workspace.resolve(name)
        if target == ctx.workspace.root or (target.exists() and any(target.iterdir())):
            raise ToolError(f"{name!r} already exists in the folder and is not empty")
        out = _git(ctx, ctx.workspace.root, ["clone", "--", args.remote, inside(ctx, target)], network=True,
                   token=config.resolved_token(), what="git clone")
        return {"action": "clone", "path": ctx.workspace.relative(target), **_checked(out, "git clone")}
    if args.action == "init":
        repo = ctx.workspace.resolve(args.path or ".")
        repo.mkdir(parents=True, exist_ok=True)
        out = _checked(_git(ctx, repo, ["init", "-q"]), "git init")
        return {"action": "init", "path": ctx.workspace.relative(repo), **out}
    repo = _repo(ctx, args.path)
    if args.action == "pull":
        url = _remote_url(ctx, repo, args.remote)
        with _Scratch(ctx, repo) as scratch:
            fetched = scratch.with_token(["fetch", "--no-tags", "--", url, "+HEAD:refs/llm-planner/fetched"],
                                         config.resolved_token(), "git pull")
            _checked(fetched, "git pull")
            out = _git(ctx, repo, ["pull", "--ff-only", "--no-tags", "--", scratch.inside(), "refs/llm-planner/fetched"],
                       what="git pull", local_transport=True)
        return {"action": "pull", "remote": url, **_checked(out, "git pull")}
    if args.action == "commit":
        if not args.message:
            raise ToolError("commit needs message")
        _checked(_git(ctx, repo, ["add", "-A"]), "git add")
        out = _checked(_git(ctx, repo, ["commit", "-q", "-m", args.message]), "git commit")
        head = _git(ctx, repo, ["rev-parse", "HEAD"])["stdout"].strip()
        return {"action": "commit", "commit": head, **out}
    command = {"status": ["status", "--short", "--branch"], "diff": ["diff"],
               "log": ["log", "-n", "20", "--date=short", "--format=%h %ad %an %s"]}[args.action]
    return {"action": args.action, **_checked(_git(ctx, repo, command), f"git {args.action}")}


def _preview_push(args: GitPushArgs, ctx: ToolContext) -> str:
    repo = _repo(ctx, args.path)
    url = _remote_url(ctx, repo, args.remote)
    return f"git push {args.branch or '(current branch)'} of {args.path} to {url}"


@tool(permissions=["execute", "network"], tag="write", timeout=300, preview=_preview_push, render=_git_words)
def git_push(args: GitPushArgs, ctx: ToolContext) -> dict:
    """Push a branch of a repository in the folder to a remote the operator allows (asks first)."""
    repo = _repo(ctx, args.path)
    url = _remote_url(ctx, repo, args.remote)
    branch = args.branch
    if branch is None:
        branch = _checked(_git(ctx, repo, ["symbolic-ref", "--short", "HEAD"]), "git symbolic-ref")["stdout"].strip()
    if not re.fullmatch(REF, branch) or ".." in branch:
        raise ToolError(f"{branch!r} is not a branch name")
    ref = f"refs/heads/{branch}"
    with _Scratch(ctx, repo) as scratch:
        _checked(_git(ctx, repo, ["push", "-q", scratch.inside(), f"{ref}:{ref}"], what="git push",
                      local_transport=True), "git push")
        scratch.scrub()
        out = scratch.with_token(["push", "--porcelain", url, f"{ref}:{ref}"], operator(ctx).git.resolved_token(),
                                 "git push")
    return {"remote": url, "branch": branch, "argv": shlex.join(["git", "push", url, branch]),
            **_checked(out, "git push")}
