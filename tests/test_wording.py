"""What a person reads of a tool's result in a chat: words and lines, never raw JSON; the
JSON itself stays in tool_executions."""

from app.conversations.wording import render_output
from tests.helpers import plan


def gateway(client, message: str) -> dict:
    response = client.post("/wa/agent", json={"message": message, "session_id": "+5491100000000"},
                           headers={"x-api-key": "gw"})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_chat_reads_words_not_json(make_client, model, workspace):
    (workspace / "notes.txt").write_text("hello\n")
    client = make_client(internal_api_key="gw")
    model.push(plan("Here is the server.", ("health_check", {})),
               plan("Written.", ("write_file", {"path": "a.txt", "content": "x"})))
    health = gateway(client, "how is the server?")
    assert "CPU" in health["reply"] and "memory" in health["reply"] and "{" not in health["reply"]
    assert isinstance(health["tool_executions"][0]["output"]["memory"], dict)  # the JSON is kept
    listing = gateway(client, "/list_dir")
    assert "notes.txt" in listing["reply"] and "{" not in listing["reply"]
    parked = gateway(client, "write a.txt")
    done = gateway(client, "confirm")
    assert "created a.txt (1 bytes)" in done["reply"] and parked["status"] == "awaiting_confirmation"


def test_the_plain_rendering_of_any_result():
    text = render_output({"customer_id": 7, "verified": False, "emails": ["a@x.org", "b@x.org"],
                          "owner": {"name": "Ana", "team": None}, "rows": [{"id": 1, "ok": True}]})
    assert text.splitlines() == ["customer id: 7", "verified: no", "emails:", "  - a@x.org", "  - b@x.org",
                                 "owner:", "  name: Ana", "  team: -", "rows:", "  - id 1, ok yes"]
    assert render_output([]) == "(none)" and render_output(None) == "-"
