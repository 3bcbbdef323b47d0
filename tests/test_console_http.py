"""The operator console over plain HTTP: sign-in, the session cookie, CSRF, the failed
sign-in limit, approvals through the single-use claim, and stored HTML shown as text."""

from __future__ import annotations

import re

import itsdangerous.timed
import pytest

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.tasks.schemas import TaskCreate
from tests.helpers import chat, plan, rows

OPERATORS = "alice:alice-key-0001,bob:bob-key-0002"
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PAGES = ["/console", "/console/conversations", "/console/conversations/web/s1", "/console/approvals",
         "/console/tasks", "/console/tasks/00000000-0000-0000-0000-000000000000", "/console/agents",
         "/console/audit", "/console/memory", "/console/policy"]


@pytest.fixture
def console(make_client):
    def build(**overrides):
        return make_client(**{"operators": OPERATORS, **overrides})
    return build


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(client, name="alice", key="alice-key-0001", csrf=None):
    page = client.get("/console/login")
    assert page.status_code == 200, page.text
    token = csrf_of(page.text) if csrf is None else csrf
    return client.post("/console/login", data={"operator": name, "key": key, "csrf": token},
                       follow_redirects=False)


def signed_in(client, name="alice", key="alice-key-0001"):
    response = sign_in(client, name, key)
    assert response.status_code == 303 and response.headers["location"] == "/console", response.text
    return csrf_of(client.get("/console").text)


def park_write(client, model, path="notes.txt", content="hello", session_id="s1") -> int:
    model.push(plan("Writing it.", ("write_file", {"path": path, "content": content})))
    assert chat(client, f"write {path}", session_id=session_id)["status"] == "awaiting_confirmation"
    return max(row["id"] for row in rows(client.app.state.runtime.engine, "pending_confirmations"))


def test_without_a_session_every_console_url_sends_to_sign_in(console):
    client = console()
    for url in [*PAGES, "/console/no-such-page"]:
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/console/login?next=/console"), url
    for url in ("/console/logout", "/console/approvals/1/approve", "/console/tasks/x/cancel",
                "/console/agents/default/launch", "/console/audit/verify",
                "/console/memory", "/console/memory/forget", "/console/policy"):
        response = client.post(url, data={"csrf": "x"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/console/login"), url
    # A forged cookie is no session either.
    client.cookies.set("console_session", "eyJvIjoiYWxpY2UifQ.forged.sig", path="/console")
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_with_no_operator_configured_the_console_answers_503(console, make_client):
    client = make_client()
    for url in ("/console/login", *PAGES):
        response = client.get(url, follow_redirects=False)
        assert response.status_code == 503 and "OPERATORS" in response.text, url
    assert client.post("/console/login", data={"operator": "admin", "key": "x", "csrf": "x"}).status_code == 503
    # ADMIN_API_KEY alone signs in as admin; OPERATORS alone is enough too (the other tests).
    admin = make_client(admin_api_key="the-admin-key-123")
    signed_in(admin, "admin", "the-admin-key-123")
    assert "Signed in as <strong>admin</strong>" in admin.get("/console").text


def test_the_session_cookie_is_signed_httponly_strict_and_expires(console, monkeypatch):
    client = console(console_session_sec=120)
    response = sign_in(client)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("console_session="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "max-age=120", "path=/console"} <= attributes
    assert "alice-key-0001" not in cookie
    page = client.get("/console")
    assert page.status_code == 200 and "<h1>Overview</h1>" in page.text
    assert ">Log out</button>" in page.text
    # The signature carries its own time: a cookie kept past its Max-Age is refused anyway.
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) + 121)
    assert client.get("/console", follow_redirects=False).headers["location"].startswith("/console/login")
    monkeypatch.undo()
    assert client.get("/console").status_code == 200
    # Logging out ends it in the browser, and a copy of the cookie is refused after it (on
    # record, so on every worker), while another sign-in of the same operator goes on.
    copied = client.cookies.get("console_session", path="/console")
    elsewhere = console(console_session_sec=120)
    sign_in(elsewhere)
    out = client.post("/console/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and 'console_session=""' in out.headers["set-cookie"]
    assert client.get("/console", follow_redirects=False).status_code == 303
    client.cookies.set("console_session", copied, path="/console")
    assert client.get("/console", follow_redirects=False).headers["location"].startswith("/console/login")
    assert elsewhere.get("/console").status_code == 200
    [out_event] = rows(client.app.state.runtime.engine, "audit_events", kind="console_signed_out")
    assert out_event["data"]["operator"] == "alice" and copied not in str(out_event)


def test_a_changed_key_ends_the_operators_sessions(console):
    client = console()
    signed_in(client)
    client.app.state.runtime.settings.operators = "alice:a-new-key-0003"
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_a_post_without_a_valid_csrf_token_changes_nothing(console, model, workspace, engine):
    client = console()
    confirmation = park_write(client, model)
    # Sign-in itself: no token, or someone else's, signs no one in.
    for token in ("", "forged"):
        refused = sign_in(client, csrf=token)
        assert refused.status_code == 403 and "console_session" not in refused.headers.get("set-cookie", "")
    csrf = signed_in(client)
    bob = console()
    bob_csrf = signed_in(bob, "bob", "bob-key-0002")
    for data in ({}, {"csrf": ""}, {"csrf": "nope"}, {"csrf": bob_csrf}):
        for action in ("approve", "reject"):
            response = client.post(f"/console/approvals/{confirmation}/{action}", data=data, follow_redirects=False)
            assert response.status_code == 403, data
        assert client.post("/console/logout", data=data, follow_redirects=False).status_code == 403
    assert rows(engine, "pending_confirmations")[0]["status"] == "pending"
    assert not (workspace / "notes.txt").exists()
    assert client.get("/console").status_code == 200  # still signed in
    assert client.post(f"/console/approvals/{confirmation}/approve", data={"csrf": csrf}).status_code == 200
    assert (workspace / "notes.txt").read_text() == "hello"


def test_failed_sign_ins_are_audited_without_the_key_and_limited_across_workers(console, engine):
    first, second = console(console_max_failures=3), console(console_max_failures=3)  # two workers
    wrong_keys = ["guess-one-1234", "guess-two-5678", "guess-three-9"]
    for client, name, key in zip((first, second, first), ("alice", "mallory", "alice"), wrong_keys):
        response = sign_in(client, name, key)
        assert response.status_code == 401 and "do not match" in response.text
        assert "console_session" not in response.headers.get("set-cookie", "")
    # A key typed into the Operator field is not written down.
    assert sign_in(console(console_max_failures=4), "bob-key-0002", "x").status_code == 401
    limited = sign_in(second)  # even the right key, from that address, for now
    assert limited.status_code == 429 and 0 < int(limited.headers["Retry-After"]) <= 900
    assert "console_session" not in limited.headers.get("set-cookie", "")
    failed = [e for e in rows(engine, "audit_events") if e["kind"] == "auth_failed"]
    assert [e["data"]["operator"] for e in failed] == ["alice", "mallory", "alice", "(a key; not recorded)"]
    assert all(e["channel"] == "console" and e["data"]["route"] == "/console/login" for e in failed)
    trail = str(rows(engine, "audit_events"))
    assert not any(key in trail for key in [*wrong_keys, "alice-key-0001", "bob-key-0002"])
    assert any(e["kind"] == "rate_limited" for e in rows(engine, "audit_events"))


def test_approve_and_reject_name_the_operator_and_run_once(console, model, workspace, engine):
    alice, bob = console(), console()
    alice_csrf, bob_csrf = signed_in(alice), signed_in(bob, "bob", "bob-key-0002")
    first = park_write(alice, model, "a.txt", "one")
    second = park_write(alice, model, "b.txt", "two", session_id="s2")
    page = alice.get("/console/approvals").text
    assert page.count(">Approve</button>") == 2 and "a.txt" in page and "b.txt" in page
    done = alice.post(f"/console/approvals/{first}/approve", data={"csrf": alice_csrf, "reason": "looks right"})
    assert done.status_code == 200 and f"Approved write_file (confirmation {first}): it ran." in done.text
    late = bob.post(f"/console/approvals/{first}/approve", data={"csrf": bob_csrf})
    assert "already taken by alice" in late.text
    assert (workspace / "a.txt").read_text() == "one"
    assert len([e for e in rows(engine, "audit_events") if e["kind"] == "tool_execution"
                and e["data"].get("approved_by")]) == 1
    rejected = bob.post(f"/console/approvals/{second}/reject", data={"csrf": bob_csrf, "reason": "not now"})
    assert "Rejected write_file" in rejected.text and not (workspace / "b.txt").exists()
    decisions = {e["kind"]: e["data"] for e in rows(engine, "audit_events")
                 if e["kind"] in ("confirmation_approved", "confirmation_rejected")}
    assert decisions["confirmation_approved"]["approved_by"] == "alice"
    assert decisions["confirmation_approved"]["reason"] == "looks right"
    assert decisions["confirmation_rejected"]["rejected_by"] == "bob"
    assert decisions["confirmation_rejected"]["reason"] == "not now"
    assert "Nothing is waiting" in alice.get("/console/approvals").text


def test_stored_html_is_shown_as_text(console, model, workspace, engine):
    client = console()
    signed_in(client)
    (workspace / "evil.html").write_text(EVIL)
    model.push(plan(EVIL, ("read_file", {"path": "evil.html"})))
    chat(client, EVIL, session_id="s1")
    task = client.app.state.runtime.tasks.create(TaskCreate(title=EVIL[:200], description=EVIL, complexity=2))
    for url in ("/console/conversations/web/s1", "/console/tasks", f"/console/tasks/{task.id}", "/console/audit",
                "/console/conversations"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, url
    session = client.get("/console/conversations/web/s1").text
    assert session.count("&lt;script&gt;alert(") >= 3  # the message, the answer, the tool's output
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get(f"/console/tasks/{task.id}").text
    assert "script-src 'self'" in client.get("/console/tasks").headers["content-security-policy"]


def test_a_tasks_buttons_follow_its_state(console, engine):
    client = console()
    csrf = signed_in(client)
    task = client.app.state.runtime.tasks.create(TaskCreate(title="Quarterly report", description="Write it.",
                                                            complexity=2))
    board = client.get("/console/tasks").text
    assert "Quarterly report" in board and 'role="progressbar"' in board and 'aria-valuenow="0"' in board
    page = client.get(f"/console/tasks/{task.id}").text
    assert ">Pause</button>" in page and ">Cancel</button>" in page and ">Resume</button>" not in page
    assert client.post(f"/console/tasks/{task.id}/pause", data={"csrf": "bad"}).status_code == 403
    paused = client.post(f"/console/tasks/{task.id}/pause", data={"csrf": csrf})
    assert "The task is paused now." in paused.text
    assert ">Resume</button>" in paused.text and ">Pause</button>" not in paused.text
    assert "The task is queued now." in client.post(f"/console/tasks/{task.id}/resume", data={"csrf": csrf}).text
    cancelled = client.post(f"/console/tasks/{task.id}/cancel", data={"csrf": csrf}).text
    assert "The task is cancelled now." in cancelled and ">Cancel</button>" not in cancelled
    assert rows(engine, "tasks")[0]["status"] == "cancelled"
    updates = [u for u in rows(engine, "task_updates") if u["data"].get("by") == "alice"]
    assert len(updates) == 3


def test_ids_past_a_bigint_are_refused_not_an_error(console):
    client = console()
    csrf = signed_in(client)
    huge = "99999999999999999999"
    for method, url in (("post", f"/console/approvals/{huge}/approve"), ("post", f"/console/approvals/{huge}/reject"),
                        ("get", f"/console/audit?cursor={huge}")):
        response = getattr(client, method)(url, **({"data": {"csrf": csrf}} if method == "post" else {}))
        assert response.status_code == 422, (url, response.status_code)


def test_agents_and_audit_pages(console, engine):
    client = console()
    csrf = signed_in(client)
    agents = client.get("/console/agents").text
    assert "<h2 id=\"agent-1\">default</h2>" in agents and ">Launch</button>" in agents
    unknown = client.post("/console/agents/nobody/launch", data={"csrf": csrf}).text
    assert "Could not launch nobody" in unknown and "no agent named" in unknown
    stopped = client.post("/console/agents/default/stop", data={"csrf": csrf}).text  # not running: no error
    assert "default: stopped." in stopped
    [stop] = [e["data"] for e in rows(engine, "audit_events", kind="agents_stopped")]
    assert stop["by"] == "alice" and stop["agents"][0]["name"] == "default"
    audit = client.get("/console/audit").text
    assert '<label for="f-session">Session</label>' in audit and ">Verify</button>" in audit
    for n in range(3):
        record(engine, AuditKind.SESSION_UNLOCKED, session_id=f"s{n}", unlocked_by="alice")
    assert "Intact: 4 event(s) verified." in client.post("/console/audit/verify", data={"csrf": csrf}).text
    with engine.begin() as conn:  # someone edits an event in the database
        first = conn.exec_driver_sql("SELECT MIN(id) FROM audit_events WHERE session_id = 's1'").scalar()
        conn.exec_driver_sql(f"UPDATE audit_events SET kind = 'edited' WHERE id = {first}")
    broken = client.post("/console/audit/verify", data={"csrf": csrf}).text
    assert "First broken event" in broken and f"<strong>{first}</strong>" in broken
    assert "Broken after 2 intact event(s)" in broken  # the stop, then s0
    filtered = client.post("/console/audit", data={"csrf": csrf, "session": "s2"}, follow_redirects=False)
    assert filtered.status_code == 303 and filtered.headers["location"] == "/console/audit?session=s2"
    assert client.get("/console/audit?session=s2").text.count("session_unlocked") == 1


def test_pages_are_self_contained(console):
    client = console()
    signed_in(client)
    for url in ("/console/login", *PAGES[:5], "/console/agents", "/console/audit", "/console/memory",
                "/console/policy"):
        html = client.get(url).text
        # No other origin: the service may run where there is no internet.
        assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", html), url
        assert 'name="viewport"' in html, url
    for asset in ("console.js", "console.css"):
        body = client.get(f"/static/console/{asset}")
        assert body.status_code == 200 and "http" not in body.text and "@import" not in body.text
    assert "/console" not in str(client.get("/openapi.json").json()["paths"])


def test_a_secret_argument_is_never_shown(console, model):
    client = console()
    signed_in(client)
    model.push(plan("Verifying.", ("verify_customer_email", {"email": "ana@example.com", "code": "482913"})))
    assert chat(client, "my code is 482913", session_id="s7")["status"] == "awaiting_confirmation"
    page = client.get("/console/approvals").text
    assert "verify_customer_email" in page and "ana@example.com" in page
    assert "482913" not in page and "_sealed" not in page
