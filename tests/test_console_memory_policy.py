"""The console's memory and policy pages: a person's memories listed and deleted, grants and
revocations made, each through the same service as the CLI and audited with the operator."""

from __future__ import annotations

import pytest

from app.cli import main
from tests.helpers import rows
from tests.test_console_http import EVIL, OPERATORS, signed_in


@pytest.fixture
def console(make_client):
    def build(**overrides):
        return make_client(**{"operators": OPERATORS, **overrides})
    return build


def memories(engine) -> list[tuple[str, str]]:
    return [(row["who"], row["text"]) for row in rows(engine, "memories")]


def test_a_persons_memories_are_listed_and_forgotten_by_the_operator(console, engine):
    client = console()
    csrf = signed_in(client)
    memory = client.app.state.runtime.memory
    first = memory.of("web", "ana").remember("Coffee with oat milk")["id"]
    memory.of("web", "ana").remember("Tennis on Tuesdays")
    memory.of("web", "ana").remember(EVIL)
    memory.of("web", "bob").remember("Bob likes tea")

    empty = client.get("/console/memory").text
    assert "<h1>Memories</h1>" in empty and '<label for="f-who">Person</label>' in empty and ">Log out</button>" in empty
    assert 'href="/console/memory" aria-current="page"' in empty and 'href="/console/policy"' in empty
    found = client.post("/console/memory", data={"csrf": csrf, "who": " ana "}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == "/console/memory?who=ana"
    page = client.get("/console/memory?who=ana").text
    assert "Coffee with oat milk" in page and "Tennis on Tuesdays" in page and "Bob likes tea" not in page
    assert page.count(">Forget</button>") == 3 and ">Forget all</button>" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page and "<img src=x" not in page
    assert page.count('name="csrf"') == page.count("<form")

    one = client.post("/console/memory/forget", data={"csrf": csrf, "who": "ana", "id": first})
    assert "Deleted 1 memory of ana." in one.text and "Coffee with oat milk" not in one.text
    # Someone else's memory by its id is not ana's to forget.
    bobs = next(row["id"] for row in rows(engine, "memories") if row["who"] == "bob")
    other = client.post("/console/memory/forget", data={"csrf": csrf, "who": "ana", "id": bobs})
    assert f"ana has no memory {bobs}; nothing was deleted." in other.text
    every = client.post("/console/memory/forget", data={"csrf": csrf, "who": "ana"})
    assert "Deleted 2 memories of ana." in every.text and "No memories of ana." in every.text
    assert memories(engine) == [("bob", "Bob likes tea")]  # deleted, not hidden; bob's untouched
    forgotten = [e["data"] for e in rows(engine, "audit_events") if e["kind"] == "memories_forgotten"]
    assert [(e["who"], e["id"], e["memories"], e["forgotten_by"]) for e in forgotten] == [
        ("ana", first, 1, "alice"), ("ana", None, 2, "alice")]


def test_grants_and_revocations_from_the_console_are_the_clis_and_name_the_operator(
        console, engine, tmp_path, monkeypatch, capsys):
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('[channels.web]\ndeny = ["write_file"]\n')
    client = console(policy_file=policy_file)
    csrf = signed_in(client, "bob", "bob-key-0002")
    page = client.get("/console/policy").text
    assert "<h1>Tool policy</h1>" in page and "channels.web" in page and "deny=write_file" in page
    assert ">Grant</button>" in page and ">Revoke</button>" in page and 'name="csrf"' in page

    granted = client.post("/console/policy", data={"csrf": csrf, "action": "grant", "kind": "channel",
                                                   "subject": "web", "tool": "write_file"})
    assert "write_file granted to channel web by bob (change #" in granted.text
    revoked = client.post("/console/policy", data={"csrf": csrf, "action": "revoke", "kind": "session",
                                                   "subject": "s9", "tool": "read_file"})
    assert "read_file revoked from session s9 by bob" in revoked.text
    assert "sessions.s9" in revoked.text and "deny=read_file" in revoked.text
    runtime = client.app.state.runtime
    assert runtime.policy.current().permits("web", "write_file")
    # `llm-planner policy show` reads the same changes, with their author.
    monkeypatch.setenv("DB_URL", str(engine.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("POLICY_FILE", str(policy_file))
    assert main(["policy", "show"]) == 0
    shown = capsys.readouterr().out
    assert "grant write_file  channels.web  by bob" in shown and "revoke read_file  sessions.s9  by bob" in shown
    changed = [e["data"] for e in rows(engine, "audit_events") if e["kind"] == "policy_changed"]
    assert [(c["action"], c["subject"], c["name"], c["tool"], c["changed_by"]) for c in changed] == [
        ("grant", "channels", "web", "write_file", "bob"), ("revoke", "sessions", "s9", "read_file", "bob")]

    for data, says in (({"kind": "channel", "subject": "pigeon", "tool": "read_file"}, "unknown channel &#39;pigeon&#39;"),
                       ({"kind": "key", "subject": "ci", "tool": ""}, "&#39;&#39; is not a tool name"),
                       ({"kind": "planet", "subject": "x", "tool": "read_file"}, "Unknown subject kind")):
        refused = client.post("/console/policy", data={"csrf": csrf, "action": "grant", **data})
        assert says in refused.text and "Nothing was changed." in refused.text, data
    assert len(rows(engine, "policy_changes")) == 2


def test_without_a_session_or_a_csrf_token_nothing_changes(console, engine):
    anonymous = console()
    for url in ("/console/memory", "/console/memory?who=ana", "/console/policy"):
        response = anonymous.get(url, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/console/login?next="), url
    client = console()
    csrf = signed_in(client)
    client.app.state.runtime.memory.of("web", "ana").remember("Keep me")
    bob_csrf = signed_in(console(), "bob", "bob-key-0002")
    change = {"action": "grant", "kind": "channel", "subject": "web", "tool": "read_file"}
    for token in ({}, {"csrf": ""}, {"csrf": "nope"}, {"csrf": bob_csrf}):
        for who in (anonymous, client):
            for url, data in (("/console/memory/forget", {"who": "ana"}), ("/console/policy", change)):
                response = who.post(url, data={**data, **token}, follow_redirects=False)
                assert response.status_code == (403 if who is client else 303), (url, token)
    assert memories(engine) == [("ana", "Keep me")] and rows(engine, "policy_changes") == []
    assert not [e for e in rows(engine, "audit_events") if e["kind"] in ("memories_forgotten", "policy_changed")]
    assert "Deleted 1 memory" in client.post("/console/memory/forget", data={"csrf": csrf, "who": "ana"}).text
