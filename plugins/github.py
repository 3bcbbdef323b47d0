"""github: open issues, comment and open pull requests over GitHub's REST API, at
GITHUB_API_URL (GitHub Enterprise, or a stand-in) with GITHUB_TOKEN. The token goes in the
Authorization header and nowhere else: not in a result, an error, the audit trail or a log."""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import Field, model_validator

from app.tools import SECRET, ToolArgs, ToolContext, ToolError, tool

REPO = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"
BRANCH = r"^[A-Za-z0-9_.:/-]{1,255}$"  # `owner:branch` names a fork's branch
API_VERSION = "2022-11-28"
NEEDS = {"create_issue": ("repo", "title", "body"), "comment": ("repo", "number", "body"),
         "create_pull_request": ("repo", "title", "body", "head", "base")}


class GithubArgs(ToolArgs):
    action: Literal["create_issue", "comment", "create_pull_request"]
    repo: str = Field(..., pattern=REPO, description="owner/name")
    title: str | None = Field(None, min_length=1, max_length=256, description="create_issue, create_pull_request")
    body: str = Field("", max_length=65536, description="Markdown text")
    number: int | None = Field(None, ge=1, description="comment: the issue or pull request's number")
    head: str | None = Field(None, pattern=BRANCH, description="create_pull_request: the branch with the changes")
    base: str | None = Field(None, pattern=BRANCH, description="create_pull_request: the branch to merge into")

    @model_validator(mode="after")
    def _what_the_action_needs(self) -> "GithubArgs":
        if any(part in (".", "..") for part in self.repo.split("/")):
            raise ValueError("repo is owner/name")
        missing = [name for name in NEEDS[self.action] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.action} needs {', '.join(missing)}")
        extra = [name for name in ("title", "number", "head", "base")
                 if name not in NEEDS[self.action] and getattr(self, name) is not None]
        if extra:
            raise ValueError(f"{self.action} takes no {', '.join(extra)}")
        return self


def _request(args: GithubArgs) -> tuple[str, dict]:
    if args.action == "create_issue":
        return f"/repos/{args.repo}/issues", {"title": args.title, "body": args.body}
    if args.action == "comment":
        return f"/repos/{args.repo}/issues/{args.number}/comments", {"body": args.body}
    return f"/repos/{args.repo}/pulls", {"title": args.title, "body": args.body, "head": args.head,
                                         "base": args.base}


def _preview(args: GithubArgs, ctx: ToolContext) -> str:
    if args.action == "create_issue":
        what = f"open an issue in {args.repo}: {args.title!r}"
    elif args.action == "comment":
        what = f"comment on {args.repo}#{args.number}"
    else:
        what = f"open a pull request in {args.repo} from {args.head} into {args.base}: {args.title!r}"
    body = args.body if len(args.body) <= 600 else args.body[:600] + " …"
    return f"{what}\n{body}".rstrip()


def _refusal(status: int, answer: dict, repo: str, token: str) -> str:
    message = str(answer.get("message") or "")[:300]
    details = []
    for error in answer.get("errors") or []:
        if isinstance(error, dict):
            details.append(str(error.get("message") or " ".join(str(error.get(k, "")) for k in ("field", "code"))))
        else:
            details.append(str(error))
    said = "; ".join(part for part in [message, *details] if part.strip())[:600].replace(token, SECRET)
    if status == 401:
        return "GitHub refused GITHUB_TOKEN (401): it is wrong, expired or revoked"
    if status == 403:
        return f"GitHub forbade it (403): the token lacks the permission, or a rate limit was hit ({said})"
    if status == 404:
        return f"GitHub found no {repo} (404), or GITHUB_TOKEN may not see it"
    if status == 422:
        return f"GitHub refused the request (422): {said or 'invalid fields'}"
    return f"GitHub answered HTTP {status}" + (f": {said}" if said else "")


def _done(out: dict) -> str:
    return f"{out['action']}: {out.get('html_url') or out.get('url')}"


@tool(permissions=["network"], tag="write", preview=_preview, render=_done)
def github(args: GithubArgs, ctx: ToolContext) -> dict:
    """On GitHub: open an issue, comment on an issue or pull request, or open a pull request."""
    token = ctx.settings.github_token
    if not token:
        raise ToolError("GITHUB_TOKEN is not set on the server; nothing was sent to GitHub")
    base = ctx.settings.github_api_url.rstrip("/")
    path, payload = _request(args)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": API_VERSION, "User-Agent": "llm-planner"}
    try:
        response = httpx.post(base + path, json=payload, headers=headers, timeout=max(1.0, ctx.timeout - 1),
                              follow_redirects=False)
    except httpx.TimeoutException:
        raise ToolError(f"GitHub ({base}) did not answer in time; it may or may not have done it") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"GitHub ({base}) could not be reached ({type(exc).__name__})") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if response.status_code not in (200, 201):
        raise ToolError(_refusal(response.status_code, answer, args.repo, token))
    out = {"action": args.action, "repo": args.repo, "number": answer.get("number", args.number),
           "url": answer.get("url"), "html_url": answer.get("html_url")}
    if args.action == "comment":
        out["comment_id"] = answer.get("id")
    return out
