"""The operator's commands, run as a user runs them: list the parked calls, approve one by
its id (it runs once, however many approve it at once), reject one, unlock a session."""

import getpass
import subprocess

import pytest
import sqlalchemy as sa

from app.store.tables import pending_confirmations, utcnow
from tests.helpers import CLI, chat, cli_env, plan, rows

pytestmark = pytest.mark.slow  # each test starts real processes

# A write tool whose every run leaves a line: a second run would show.
APPEND = '''
from app.tools import ToolArgs, tool


class Line(ToolArgs):
    text: str


@tool(permissions=["write"], tag="write", preview=lambda args, ctx: f"append {args.text!r} to ledger.txt")
def append_line(args: Line, ctx):
    """Append one line to ledger.txt."""
    with open(ctx.workspace.resolve("ledger.txt"), "a") as handle:
        handle.write(args.text + "\\n")
    return {"appended": args.text}
'''


@pytest.fixture
def plugins(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "ledger.py").write_text(APPEND)
    return folder


@pytest.fixture
def operator(backend, tmp_path, workspace, plugins):
    _, url, _ = backend

    def run(*args):
        return subprocess.run(CLI + list(args), cwd=tmp_path, capture_output=True, text=True, timeout=90,
                              env=cli_env(DB_URL=url, WORKSPACE_ROOT=str(workspace), PLUGINS_DIR=str(plugins),
                                          CONFIRM_SECRET="k"))
    run.popen = lambda *args: subprocess.Popen(
        CLI + list(args), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_env(DB_URL=url, WORKSPACE_ROOT=str(workspace), PLUGINS_DIR=str(plugins), CONFIRM_SECRET="k"))
    return run


def park(client, model, text, session_id="s1"):
    model.push(plan("Appending.", ("append_line", {"text": text})))
    answer = chat(client, f"append {text}", session_id=session_id)
    assert answer["status"] == "awaiting_confirmation"
    return answer["confirmations"][0]["token"], str(rows(client.app.state.runtime.engine,
                                                         "pending_confirmations")[-1]["id"])


def test_list_approve_twice_at_once_runs_once(make_client, model, engine, workspace, plugins, operator):
    client = make_client(plugins_dir=plugins)
    token, first = park(client, model, "one")
    _, other = park(client, model, "two", session_id="s2")

    listed = operator("confirmations", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{first}  web  s1  append_line  expires 20" in listed.stdout and '"text": "one"' in listed.stdout
    assert f"{other}  web  s2  append_line" in listed.stdout
    assert "append 'one' to ledger.txt" in listed.stdout
    only = operator("confirmations", "list", "--session", "s2").stdout
    assert f"{other}  web  s2" in only and "s1" not in only

    both = [operator.popen("confirm", first, "--by", "alice"), operator.popen("confirm", first, "--by", "bob")]
    results = [(p.wait(timeout=90), p.stdout.read(), p.stderr.read()) for p in both]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    _, won, _ = next(r for r in results if r[0] == 0)
    _, _, lost = next(r for r in results if r[0] == 1)
    winner = "alice" if "by alice" in won else "bob"
    assert "approved append_line" in won and "success" in won
    assert "already taken by " + winner in lost and "Traceback" not in lost
    assert (workspace / "ledger.txt").read_text() == "one\n"  # ran once

    [approved] = rows(engine, "audit_events", kind="confirmation_approved")
    assert approved["data"]["approved_by"] == winner and approved["data"]["confirmation_id"] == int(first)
    assert approved["session_id"] == "s1" and approved["channel"] == "web"
    [ran] = [e for e in rows(engine, "audit_events", kind="tool_execution") if e["request_id"] == approved["request_id"]]
    assert ran["data"]["tool"] == "append_line" and ran["data"]["status"] == "success"

    again = chat(client, f"confirm {token}")  # the person's own token is spent as well
    assert again["status"] == "error" and (workspace / "ledger.txt").read_text() == "one\n"
    still = operator("confirmations", "list").stdout
    assert f"{first}  web  s1" not in still and f"{other}  web  s2" in still
    everything = operator("confirmations", "list", "--all").stdout
    assert f"{first}  web  s1" in everything and f"[consumed by {winner}]" in everything

    default = operator("confirm", other)
    assert default.returncode == 0 and f"by {getpass.getuser()}" in default.stdout
    assert (workspace / "ledger.txt").read_text() == "one\ntwo\n"


def test_cancel_unknown_and_expired(make_client, model, engine, workspace, plugins, operator):
    client = make_client(plugins_dir=plugins)
    token, parked = park(client, model, "never")
    cancelled = operator("confirmations", "cancel", parked, "--by", "carol", "--reason", "not today")
    assert cancelled.returncode == 0 and "rejected append_line" in cancelled.stdout
    [rejected] = [e for e in rows(engine, "audit_events", kind="confirmation_rejected") if "rejected_by" in e["data"]]
    assert rejected["data"]["rejected_by"] == "carol" and rejected["data"]["reason"] == "not today"
    late = operator("confirm", parked)
    assert late.returncode == 1 and "already rejected by carol" in late.stderr
    assert chat(client, f"confirm {token}")["status"] == "error"
    assert not (workspace / "ledger.txt").exists()

    unknown = operator("confirm", "999999")
    assert unknown.returncode == 1 and "no confirmation has the id 999999" in unknown.stderr
    for bad in ("no-such-id", "-5", "0"):
        refused = operator("confirm", bad)
        assert refused.returncode == 2 and "is not a confirmation id" in refused.stderr
        assert "Traceback" not in refused.stderr

    _, stale = park(client, model, "stale")
    with engine.begin() as conn:
        conn.execute(sa.update(pending_confirmations).where(pending_confirmations.c.id == int(stale))
                     .values(expires_at=utcnow()))
    expired = operator("confirm", stale)
    assert expired.returncode == 1 and "expired" in expired.stderr
    assert f"{stale}  web" not in operator("confirmations", "list").stdout
    assert not (workspace / "ledger.txt").exists() and not rows(engine, "audit_events", kind="confirmation_approved")


def test_unlock_a_session_locked_by_wrong_codes(make_client, model, engine, workspace, operator):
    client = make_client(internal_api_key="gw", confirm_max_failures=2)
    send = lambda text: client.post("/wa/agent", json={"message": text, "session_id": "+5491100000000"},
                                    headers={"x-api-key": "gw"}).json()
    model.push(plan("Writing.", ("write_file", {"path": "w.txt", "content": "x"})))
    code = send("write w.txt")["confirmations"][0]["token"]
    send("confirm AAAA-AAAA")
    send("confirm BBBB-BBBB")
    locked = send(f"confirm {code}")
    assert locked["status"] == "error" and not (workspace / "w.txt").exists()

    other_channel = operator("sessions", "unlock", "+5491100000000", "--channel", "meta")
    assert other_channel.returncode == 0 and "no wrong-code lock" in other_channel.stdout
    unlocked = operator("sessions", "unlock", "+5491100000000", "--channel", "wa", "--by", "dave")
    assert unlocked.returncode == 0 and "unlocked" in unlocked.stdout
    [row] = rows(engine, "sessions", session_id="+5491100000000")
    assert row["confirm_failures"] == 0 and row["confirm_locked_until"] is None
    assert rows(engine, "audit_events", kind="session_unlocked")[0]["data"]["unlocked_by"] == "dave"
    assert send(f"confirm {code}")["status"] == "success" and (workspace / "w.txt").read_text() == "x"
