"""The memory page (a person's memories, Forget one or all through the memory service) and
the policy page (the file's rules, the database's changes, Grant / Revoke through
`app.policy.changes`, the same path as `llm-planner policy grant|revoke`). Each change names
the signed-in operator in the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.console.web import OperatorDep, check_csrf, redirect, render
from app.policy import repository as policy_changes
from app.policy.changes import BadChange, make_change
from app.tools.policy import CHANNELS, Policy, PolicyError, Subject, load_policy

router = APIRouter(prefix="/console", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]
Who = Annotated[str, Form(max_length=255)]
# The form's subject kinds, as `policy grant` names them (--key, --agent, --session, --channel).
SUBJECTS = {"key": Subject.KEY, "agent": Subject.AGENT, "session": Subject.SESSION, "channel": Subject.CHANNEL}


def _memory_page(who: str) -> str:
    return "/console/memory" + (f"?{urlencode({'who': who})}" if who else "")


@router.get("/memory", response_class=HTMLResponse)
def memory(request: Request, operator: OperatorDep, who: Annotated[str, Query(max_length=255)] = "") -> Response:
    who = who.strip()
    found = request.app.state.runtime.memory.listed(who) if who else []
    return render(request, "memory.html", {"who": who, "memories": found}, operator=operator)


@router.post("/memory")
def memory_find(request: Request, operator: OperatorDep, csrf: Csrf = "", who: Who = "") -> Response:
    """The Person form posts (it carries a CSRF token like every form) and lands on the
    bookmarkable address."""
    check_csrf(operator, csrf)
    return redirect(request, _memory_page(who.strip()))


@router.post("/memory/forget")
def memory_forget(request: Request, operator: OperatorDep, csrf: Csrf = "", who: Who = "",
                  id: Annotated[int | None, Form(ge=1, le=2**63 - 1)] = None) -> Response:
    check_csrf(operator, csrf)
    who = who.strip()
    if not who:
        return redirect(request, "/console/memory", ("error", "Name the person (a session id or a sender id)."))
    gone = request.app.state.runtime.memory.forget_all(who, id, by=operator.name)
    if not gone:
        which = f"memory {id}" if id is not None else "memories"
        return redirect(request, _memory_page(who), ("error", f"{who} has no {which}; nothing was deleted."))
    return redirect(request, _memory_page(who),
                    ("ok", f"Deleted {gone} memor{'y' if gone == 1 else 'ies'} of {who}."))


def _rules(policy: Policy) -> list[dict]:
    now = datetime.now().astimezone()
    return [{"where": f"{subject.value}.{name}", "facts": rule.describe(), "idle": not rule.in_force(now)}
            for (subject, name), rule in sorted(policy.rules.items())]


@router.get("/policy", response_class=HTMLResponse)
def policy(request: Request, operator: OperatorDep) -> Response:
    """What `llm-planner policy show` prints: the file's rules, the changes, what is in force."""
    runtime = request.app.state.runtime
    problem = None
    try:
        file_policy = load_policy(runtime.settings.policy_file)
    except PolicyError as exc:  # the changes are still worth seeing
        file_policy, problem = Policy(), str(exc)
    history = policy_changes.history(runtime.engine)
    in_force = None if problem else _rules(file_policy.with_changes(policy_changes.as_changes(history)))
    return render(request, "policy.html", {
        "file": runtime.settings.policy_file, "problem": problem, "rules": _rules(file_policy),
        "history": history, "in_force": in_force, "kinds": list(SUBJECTS), "channels": CHANNELS}, operator=operator)


@router.post("/policy")
def policy_change(request: Request, operator: OperatorDep, csrf: Csrf = "",
                  action: Annotated[str, Form(max_length=16)] = "",
                  kind: Annotated[str, Form(max_length=16)] = "",
                  subject: Annotated[str, Form(max_length=300)] = "",
                  tool: Annotated[str, Form(max_length=100)] = "") -> Response:
    check_csrf(operator, csrf)
    runtime = request.app.state.runtime
    if kind not in SUBJECTS:
        return redirect(request, "/console/policy", ("error", f"Unknown subject kind {kind!r}; use "
                                                              f"{', '.join(SUBJECTS)}. Nothing was changed."))
    try:
        change_id = make_change(runtime.engine, action, SUBJECTS[kind], subject, tool, operator.name)
    except BadChange as exc:
        return redirect(request, "/console/policy", ("error", f"{action.capitalize() or 'Change'}: {exc}. "
                                                              "Nothing was changed."))
    runtime.policy.refresh()  # this node applies it now; the others within seconds
    done = "granted to" if action == "grant" else "revoked from"
    said = f"{tool.strip()} {done} {kind} {subject.strip()} by {operator.name} (change #{change_id})."
    if runtime.registry.get(tool.strip()) is None:
        said += f" Note: no installed tool is called {tool.strip()!r}."
    return redirect(request, "/console/policy", ("ok", said))
