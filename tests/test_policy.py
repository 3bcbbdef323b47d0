"""Permissions that change at run time: rules by key, agent and session with hours and an end,
the policy file read again while serving, grants and revocations from the CLI, named keys."""

import logging
import os
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from app.cli import main
from app.tools.policy import (
    Caller,
    Change,
    Policy,
    PolicyError,
    Rule,
    Subject,
    load_policy,
    parse_policy,
)
from tests.helpers import chat, plan, rows, until

CI_KEY = "ci-bot-key-0123456789abcdef"
OPS_KEY = "ops-key-0123456789abcdef012"
AGENT_KEY = "agent-key-0123456789abcdef01"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 1, hour, minute).astimezone()


def rewrite(path, text: str) -> None:
    """A new version of the file, seen as changed even within the file system's clock tick."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def run_tool(client, tool: str, key: str | None = None, session: str = "s1") -> dict:
    headers = {"X-API-Key": key} if key else {}
    response = client.post("/agent/run", json={"input": f"/{tool}", "session_id": session}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def shown_tools(model) -> str:
    return model.calls[-1]["messages"][0]["content"]


# -- the rules themselves -------------------------------------------------------------------

@pytest.mark.parametrize("hours,inside,outside", [
    ("02:00-05:00", [at(2), at(4, 59)], [at(1, 59), at(5), at(23)]),
    ("22:00-06:00", [at(22), at(23, 59), at(0), at(5, 59)], [at(6), at(12), at(21, 59)]),  # wraps midnight
])
def test_hours_hold_only_inside_their_window_even_across_midnight(tmp_path, hours, inside, outside):
    policy = parse_policy(f'[sessions."+1"]\nallow = ["list_dir"]\nhours = "{hours}"\n', tmp_path / "p.toml")
    caller = Caller("wa", session="+1")
    for moment in inside:
        assert policy.permits(caller, "list_dir", moment), moment
        assert not policy.permits(caller, "read_file", moment)  # allow permits only its tools
    for moment in outside:
        assert not policy.permits(caller, "list_dir", moment), moment  # outside: nothing
    assert policy.permits(Caller("wa", session="+2"), "read_file", at(12))  # another session: untouched


def test_a_rule_past_its_until_permits_nothing(tmp_path):
    policy = parse_policy('[keys.ci-bot]\ndeny = ["write_file"]\nuntil = "2026-12-31T23:59:00Z"\n',
                          tmp_path / "p.toml")
    caller = Caller("api", key="ci-bot")
    before = datetime(2026, 12, 31, 23, 58, tzinfo=timezone.utc)
    assert policy.permits(caller, "list_dir", before) and not policy.permits(caller, "write_file", before)
    assert not policy.permits(caller, "list_dir", before + timedelta(minutes=1))


def test_every_matching_rule_must_permit(tmp_path):
    policy = parse_policy('[channels.api]\nallow = ["list_dir", "read_file"]\n'
                          '[agents.default]\ndeny = ["read_file"]\n'
                          '[keys.ci-bot]\nallow = ["list_dir", "write_file"]\n', tmp_path / "p.toml")
    assert policy.permits(Caller("api", key="ci-bot"), "list_dir")
    assert not policy.permits(Caller("api", key="ci-bot"), "write_file")  # the channel's allow lacks it
    assert not policy.permits(Caller("api"), "read_file")  # the agent's deny
    assert policy.permits(Caller("api", agent="researcher"), "read_file")


def test_grant_and_revoke_follow_the_contract():
    policy = Policy({(Subject.KEY, "a"): Rule(deny=frozenset({"t"})),
                     (Subject.KEY, "b"): Rule(allow=frozenset({"x"}))})
    changed = policy.with_changes([Change("grant", Subject.KEY, "a", "t"), Change("grant", Subject.KEY, "b", "t"),
                                   Change("revoke", Subject.KEY, "b", "x"), Change("revoke", Subject.AGENT, "r", "t")])
    assert changed.rules[(Subject.KEY, "a")] == Rule()  # lifted from deny; no allow is made
    assert changed.rules[(Subject.KEY, "b")].allow == {"t"}
    assert changed.rules[(Subject.AGENT, "r")].deny == {"t"}  # no allow: denied instead


@pytest.mark.parametrize("text,says", [
    ('[keys.k]\nhours = "9-17"', "HH:MM-HH:MM"),
    ('[keys.k]\nhours = "09:00-09:00"', "HH:MM-HH:MM"),
    ('[keys.k]\nuntil = "tomorrow"', "until must be a date and time"),
    ('[keys.k]\nuntil = 2026-12-31', "until must be a date and time"),
    ('[key.k]\ndeny = []', "unknown table"),
    ('[sessions."+1"]\npermit = []', "only allow and deny"),
])
def test_bad_rules_are_refused(tmp_path, text, says):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=says):
        load_policy(path)


# -- through the service --------------------------------------------------------------------

def test_a_named_key_is_accepted_and_its_rule_applied(make_client, model, tmp_path, engine, workspace):
    policy = tmp_path / "policy.toml"
    policy.write_text('[keys.ci-bot]\ndeny = ["read_file"]\n')
    (workspace / "f.txt").write_text("the secret text")
    client = make_client(policy_file=policy, agent_api_key=AGENT_KEY, api_keys=f"ci-bot:{CI_KEY},ops:{OPS_KEY}")

    assert client.post("/agent/run", json={"input": "/health_check", "session_id": "s"},
                       headers={"X-API-Key": "wrong-key-0123456789"}).status_code == 401
    assert client.post("/agent/run", json={"input": "/health_check", "session_id": "s"}).status_code == 401
    assert run_tool(client, "health_check", OPS_KEY)["status"] == "success"

    model.push(plan("reading", ("read_file", {"path": "f.txt"})))
    refused = client.post("/agent/run", json={"input": "read f.txt", "session_id": "s"},
                          headers={"X-API-Key": CI_KEY}).json()
    assert "- read_file" not in shown_tools(model) and "- list_dir" in shown_tools(model)  # not shown
    [execution] = refused["tool_executions"]
    assert execution["status"] == "blocked" and "key ci-bot" in execution["error"]  # nor run
    assert "the secret text" not in str(refused)
    assert "/read_file" not in run_tool(client, "tools", CI_KEY)["reply"]
    assert run_tool(client, "read_file path=f.txt", CI_KEY)["tool_executions"][0]["status"] == "blocked"

    # The same tool for the other keys, which the rule does not name.
    for key in (OPS_KEY, AGENT_KEY):
        assert run_tool(client, "read_file path=f.txt", key)["tool_executions"][0]["status"] == "success"
    tool_rows = [r for r in rows(engine, "audit_events", kind="tool_execution") if r["data"]["tool"] == "read_file"]
    assert [r["data"]["status"] for r in tool_rows] == ["blocked", "blocked", "success", "success"]


def test_an_operators_later_approval_checks_the_asking_keys_rules_as_they_stand(make_client, model, tmp_path,
                                                                               workspace, engine):
    from app.confirmations.approvals import approve
    policy = tmp_path / "policy.toml"
    policy.write_text("[keys.ci-bot]\ndeny = []\n")
    client = make_client(policy_file=policy, agent_api_key=AGENT_KEY, api_keys=f"ci-bot:{CI_KEY}")
    model.push(plan("writing", ("write_file", {"path": "out.txt", "content": "x"})))
    parked = client.post("/agent/run", json={"input": "write it", "session_id": "s"},
                         headers={"X-API-Key": CI_KEY}).json()
    assert parked["status"] == "awaiting_confirmation"
    [row] = rows(engine, "pending_confirmations")
    assert row["api_key_name"] == "ci-bot"
    # The key loses the tool while its call waits; an operator then approves the call.
    policy.write_text('[keys.ci-bot]\ndeny = ["write_file"]\n')
    runtime = client.app.state.runtime
    runtime.policy.refresh()
    _, execution = approve(runtime, row["id"], "alice")
    assert execution.status == "blocked" and "key ci-bot" in execution.error
    assert not (workspace / "out.txt").exists()


def test_named_keys_open_the_task_routes_too(make_client):
    client = make_client(api_keys=f"ops:{OPS_KEY}")
    assert client.get("/api/tasks", headers={"X-API-Key": OPS_KEY}).status_code == 200
    assert client.get("/api/tasks", headers={"X-API-Key": CI_KEY}).status_code == 401
    assert client.post("/agent", json={"message": "/help", "session_id": "s"}).status_code == 401


def test_session_rules_hold_only_in_their_hours_and_until(make_client, tmp_path):
    now = datetime.now().astimezone()
    inside = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    outside = f"{(now + timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=2)):%H:%M}"
    past = (now - timedelta(minutes=1)).isoformat()
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[sessions.night]\nallow = ["list_dir"]\nhours = "{outside}"\n'
                      f'[sessions.day]\nallow = ["list_dir"]\nhours = "{inside}"\n'
                      f'[sessions.over]\nallow = ["list_dir"]\nuntil = "{past}"\n')
    client = make_client(policy_file=policy)
    status = lambda session, tool: chat(client, f"/{tool}", session)["tool_executions"][0]["status"]
    assert status("day", "list_dir") == "success" and status("day", "health_check") == "blocked"
    assert status("night", "list_dir") == "blocked"  # outside its hours the rule permits nothing
    assert status("over", "list_dir") == "blocked"
    assert status("someone-else", "health_check") == "success"


def test_the_agents_rule_applies_to_its_turns(make_client, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[agents.default]\ndeny = ["list_dir"]\n[agents.researcher]\ndeny = ["health_check"]\n')
    client = make_client(policy_file=policy)
    assert chat(client, "/list_dir")["tool_executions"][0]["status"] == "blocked"
    assert chat(client, "/health_check")["tool_executions"][0]["status"] == "success"


def test_the_file_is_read_again_while_serving_and_a_bad_one_keeps_the_last_good(make_client, model, tmp_path,
                                                                                  caplog):
    policy = tmp_path / "policy.toml"
    policy.write_text('[channels.web]\ndeny = ["list_dir"]\n')
    client = make_client(policy_file=policy)
    assert chat(client, "/list_dir")["tool_executions"][0]["status"] == "blocked"
    assert client.get("/health/ready").json()["checks"]["policy"]["ok"] is True

    rewrite(policy, '[channels.web]\ndeny = ["health_check"]\n')  # no restart
    assert chat(client, "/list_dir")["tool_executions"][0]["status"] == "success"
    assert chat(client, "/health_check")["tool_executions"][0]["status"] == "blocked"

    with caplog.at_level(logging.ERROR, logger="llm_planner.policy"):
        rewrite(policy, '[channels.web]\nallow = "everything"\n')  # broken: must widen nothing
        assert chat(client, "/health_check")["tool_executions"][0]["status"] == "blocked"
        model.push(plan("ok"))
        chat(client, "hello")
        assert "- health_check" not in shown_tools(model)
    assert [r for r in caplog.records if "last good rules" in r.getMessage()]
    ready = client.get("/health/ready").json()["checks"]["policy"]
    assert ready["ok"] is False and "list of tool names" in ready["error"] and "last good" in ready["error"]

    policy.unlink()  # gone altogether: still the last good rules
    assert chat(client, "/health_check")["tool_executions"][0]["status"] == "blocked"

    rewrite(policy, "")
    assert chat(client, "/health_check")["tool_executions"][0]["status"] == "success"
    assert client.get("/health/ready").json()["checks"]["policy"]["ok"] is True


def test_grants_and_revocations_from_the_cli_reach_a_running_service(make_client, backend, tmp_path, engine,
                                                                      monkeypatch, capsys):
    _, url, _ = backend
    policy = tmp_path / "policy.toml"
    policy.write_text('[keys.ci-bot]\ndeny = ["list_dir"]\n')
    client = make_client(policy_file=policy, api_keys=f"ci-bot:{CI_KEY}")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for name, value in dict(DB_URL=url, POLICY_FILE=str(policy), API_KEYS=f"ci-bot:{CI_KEY}").items():
        monkeypatch.setenv(name, value)

    def cli(*args) -> subprocess.CompletedProcess:  # the CLI's own entry, in this process (fast)
        code = main(["policy", *args])
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    status = lambda tool, session="s": run_tool(client, tool, CI_KEY, session)["tool_executions"][0]["status"]
    assert status("list_dir") == "blocked"
    granted = cli("grant", "--key", "ci-bot", "--tool", "list_dir", "--by", "alice")
    assert granted.returncode == 0, granted.stderr
    assert until(lambda: status("list_dir") == "success", 10)

    revoked = cli("revoke", "--session", "s", "--tool", "health_check", "--by", "bob")
    assert revoked.returncode == 0, revoked.stderr
    assert until(lambda: status("health_check") == "blocked", 10)
    assert status("health_check", session="other") == "success"

    shown = cli("show")
    assert shown.returncode == 0, shown.stderr
    assert "[keys.ci-bot]  deny=list_dir" in shown.stdout  # the file's rule
    assert "grant list_dir  keys.ci-bot  by alice" in shown.stdout and "by bob" in shown.stdout
    assert "[sessions.s]  deny=health_check" in shown.stdout  # in force now

    audited = rows(engine, "audit_events", kind="policy_changed")
    assert [(e["data"]["action"], e["data"]["changed_by"], e["data"]["tool"]) for e in audited] == [
        ("grant", "alice", "list_dir"), ("revoke", "bob", "health_check")]

    bad = cli("grant", "--channel", "sms", "--tool", "list_dir", "--by", "eve")
    assert bad.returncode == 2 and "unknown channel" in bad.stderr
    assert len(rows(engine, "policy_changes")) == 2


def test_a_task_created_with_a_named_key_stays_under_its_rule(make_client, model, tmp_path, workspace):
    policy = tmp_path / "policy.toml"
    policy.write_text('[keys.ci-bot]\ndeny = ["write_file"]\n')
    model.push(plan("Writing.", ("write_file", {"path": "output/a.md", "content": "x"})),
               plan("Done.", ("finish_task", {"summary": "tried", "files": []})))
    client = make_client(policy_file=policy, api_keys=f"ci-bot:{CI_KEY}", task_workers=1, task_poll_sec=0.2)
    created = client.post("/api/tasks", json={"title": "T", "description": "write a.md", "complexity": 1},
                          headers={"X-API-Key": CI_KEY})
    assert created.status_code == 201, created.text
    task_id = created.json()["id"]
    get = lambda: client.get(f"/api/tasks/{task_id}", headers={"X-API-Key": CI_KEY}).json()
    assert until(lambda: get()["status"] in ("complete", "failed"), 20)
    assert "- write_file" not in model.calls[0]["messages"][0]["content"]  # not shown to the step
    updates = client.get(f"/api/tasks/{task_id}/updates", headers={"X-API-Key": CI_KEY}).json()["updates"]
    assert "write_file: blocked" in [u["content"] for u in updates if u["update_type"] == "tool_execution"]
    assert not (workspace / created.json()["workspace"] / "output" / "a.md").exists()
