"""Natural-language turns: context, strict validation, bounded re-asks, facts, audit."""

import json

from app.planner.output import PLAN_SCHEMA
from tests.helpers import chat, plan, rows


def test_plan_runs_read_tool_and_answers(client, model, workspace, engine):
    (workspace / "logs").mkdir()
    (workspace / "logs" / "app.log").write_text("started\n")
    model.push(plan("Here is the logs folder.", ("list_dir", {"path": "logs"})))

    body = chat(client, "what is in logs?")

    assert body["status"] == "success"
    assert body["reply"].startswith("Here is the logs folder.")
    [execution] = body["tool_executions"]
    assert execution["tool_name"] == "list_dir" and execution["status"] == "success"
    assert [e["name"] for e in execution["output"]["entries"]] == ["app.log"]
    assert body["confirmations"] == [] and body["error"] is None
    kinds = [r["kind"] for r in rows(engine, "audit_events", request_id=body["request_id"])]
    assert kinds == ["request", "model_call", "plan", "tool_execution", "response"]


def test_model_gets_schema_catalogue_and_unchanged_message(client, model):
    model.push(plan("hi"))
    message = "  Hola, ¿qué hay?  {\"tool_calls\": [] }\n"

    chat(client, message)

    [call] = model.calls
    assert call["schema"] == PLAN_SCHEMA and "$ref" not in json.dumps(call["schema"])
    assert call["messages"][-1] == {"role": "user", "content": message}
    system = call["messages"][0]["content"]
    for name in ("health_check", "list_dir", "read_file", "write_file", "register_customer"):
        assert name in system
    assert '"max_lines"' in system  # each tool's real argument schema


def test_facts_are_kept_and_history_is_sent(client, model, engine):
    model.push(plan("Noted.", facts={"customer_email": "ana@example.com"}), plan("Sure."))

    chat(client, "my email is ana@example.com")
    chat(client, "what do you know?")

    [session] = rows(engine, "sessions", session_id="s1")
    assert session["channel"] == "web" and session["facts"] == {"customer_email": "ana@example.com"}
    second = model.calls[1]["messages"]
    assert len(second) == 2 and second[-1] == {"role": "user", "content": "what do you know?"}
    system = second[0]["content"]
    assert '"customer_email": "ana@example.com"' in system
    history = system.split("<conversation>")[1].split("</conversation>")[0]
    assert json.loads(history) == [{"from": "user", "text": "my email is ana@example.com"},
                                   {"from": "assistant", "text": "Noted."}]


def test_history_shows_long_replies_cut_and_whole_characters(client, model, workspace):
    (workspace / "long.txt").write_text("é" * 4000 + "\n")
    model.push(plan("Here it is.", ("read_file", {"path": "long.txt"})), plan("Sure."))
    reply = chat(client, "show long.txt")["reply"]
    chat(client, "and now?")

    system = model.calls[1]["messages"][0]["content"]
    history = json.loads(system.split("<conversation>")[1].split("</conversation>")[0])
    shown = history[1]["text"]
    assert len(reply) > 2000 and len(shown) == 1500 and shown == reply[:1500]


def test_sessions_are_separate(client, model, engine):
    model.push(plan("a", facts={"k": "zebra-42"}), plan("b"))
    chat(client, "first", session_id="alice")
    chat(client, "second", session_id="bob")
    assert "zebra-42" not in model.calls[1]["messages"][0]["content"]
    assert "<conversation>" not in model.calls[1]["messages"][0]["content"]


def test_a_session_id_differing_only_by_case_or_a_trailing_space_is_another_session(client, model, engine):
    """Web session ids act as bearer secrets: on MySQL/MariaDB the default collation made
    "Ana" and "ana " continue "ana"'s conversation (migration 0008 compares them exactly)."""
    model.push(plan("a", facts={"k": "zebra-42"}), plan("b"), plan("c"))
    chat(client, "first", session_id="ana")
    for n, lookalike in enumerate(("Ana", "ana "), start=1):
        chat(client, "second", session_id=lookalike)
        system = model.calls[n]["messages"][0]["content"]
        assert "zebra-42" not in system and "<conversation>" not in system
    assert sorted(r["session_id"] for r in rows(engine, "sessions")) == ["Ana", "ana", "ana "]
    assert [r["content"] for r in rows(engine, "messages", session_id="ana")] == ["first", "a"]


def test_invalid_plan_is_reasked_with_the_error_then_accepted(client, model, workspace):
    (workspace / "a.txt").write_text("x")
    model.push('{"reply": "ok", "tool_calls": [], "bogus": 1}',
               '```json\n{"reply": "listed", "tool_calls": [{"tool": "list_dir", "args": {}}]}\n```')

    body = chat(client, "list")

    assert body["status"] == "success" and body["tool_executions"][0]["status"] == "success"
    retry = model.calls[1]["messages"]
    assert retry[-2]["role"] == "assistant" and "bogus" in retry[-2]["content"]
    assert "bogus" in retry[-1]["content"] and "Extra inputs are not permitted" in retry[-1]["content"]
    assert "list" in retry[-1]["content"]


def test_never_valid_plan_is_a_clean_error_and_nothing_runs(client, model, workspace, engine):
    hostile = {"reply": 5, "tool_calls": [{"tool": "write_file", "args": {"path": "x", "content": "y"}}]}
    model.push("I think you should list the files.", hostile,
               {"reply": "ok", "tool_calls": "write_file"})

    body = chat(client, "do it")

    assert body["status"] == "error" and body["tool_executions"] == [] and body["confirmations"] == []
    assert "valid plan" in body["error"] and len(model.calls) == 3
    assert rows(engine, "pending_confirmations") == []
    assert list(workspace.iterdir()) == []
    rejected = rows(engine, "audit_events", kind="plan_rejected")
    assert [r["data"]["attempt"] for r in rejected] == [1, 2, 3]
    raw = [r["data"]["raw_output"] for r in rows(engine, "audit_events", kind="model_call")]
    assert raw[0] == "I think you should list the files."


def test_wrong_types_are_not_coerced(client, model, engine):
    """A number where text belongs, one call where a list belongs, a nested fact: none is
    bent into shape (Pydantic's `coerce_numbers_to_str` or a looser field type would).
    Each attempt is refused by name and type, and nothing runs."""
    model.push({"reply": 5, "tool_calls": []},
               {"reply": "x", "tool_calls": {"tool": "list_dir", "args": {}}},
               {"reply": "x", "facts": {"a": {"nested": 1}}})
    body = chat(client, "x")
    assert body["status"] == "error" and body["tool_executions"] == []
    errors = [e["data"]["error"] for e in rows(engine, "audit_events", kind="plan_rejected")]
    assert len(errors) == 3
    assert "reply: Input should be a valid string" in errors[0]
    assert "tool_calls: Input should be a valid array" in errors[1]
    assert "facts.a" in errors[2]


def test_partial_plan_never_runs(client, model, workspace):
    """One bad call makes the whole plan invalid; the good call before it does not run."""
    (workspace / "f").write_text("x")
    bad = {"reply": "x", "tool_calls": [{"tool": "read_file", "args": {"path": "f"}}, {"tool": 7}]}
    model.push(bad, bad, bad)
    body = chat(client, "x")
    assert body["status"] == "error" and body["tool_executions"] == []


def test_model_cannot_skip_the_executor(client, model, workspace):
    model.push(plan("done", ("shell", {"cmd": "rm -rf /"}), ("read_file", {"path": "../../etc/passwd"}),
                    ("list_dir", {"path": "."})))
    body = chat(client, "x")
    statuses = [(e["tool_name"], e["status"]) for e in body["tool_executions"]]
    assert statuses == [("shell", "blocked"), ("read_file", "error"), ("list_dir", "success")]
    assert body["status"] == "tool_error"
    assert "not allowed" in body["tool_executions"][0]["error"]
    assert "outside the workspace" in body["tool_executions"][1]["error"]


def test_schema_sent_to_the_model_is_inline_and_grammar_friendly():
    text = json.dumps(PLAN_SCHEMA)
    assert "$ref" not in text and "$defs" not in text and "maxLength" not in text
    assert PLAN_SCHEMA["required"] == ["reply", "tool_calls", "facts"]
    assert PLAN_SCHEMA["properties"]["tool_calls"]["items"]["required"] == ["tool", "args"]
    assert PLAN_SCHEMA["additionalProperties"] is False
