"""A tool's secret arguments (the e-mail verification code) are never stored, audited,
logged or answered in plain text; a parked call still runs with the real value."""

import json
import logging
import re

import pytest
import sqlalchemy as sa

from app.confirmations.sealing import SEALED
from app.store.tables import pending_confirmations
from app.tools import ToolArgs, tool
from app.tools.errors import BadToolDeclaration
from tests.helpers import ALL_TABLES, chat, plan, rows


class Captured(logging.Handler):
    """Every log record, formatted with its traceback: what any log sink would receive."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record) + repr(getattr(record, "fields", "")))


@pytest.fixture
def logs():
    handler, root = Captured(), logging.getLogger()
    level = root.level
    yield handler, root, level
    root.removeHandler(handler)
    root.setLevel(level)


def listen(logs):
    handler, root, _ = logs
    root.addHandler(handler)  # after the app configured logging, which replaces root's handlers
    root.setLevel(logging.DEBUG)
    return handler


def customer_client(make_client, smtp, **overrides):
    port, mailbox = smtp
    client = make_client(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, **overrides)
    parked = chat(client, "/register_customer name=Ana email=ana@example.com")
    assert chat(client, f"confirm {parked['confirmations'][0]['token']}")["status"] == "success"
    return client, re.search(r"code is (\d{6})", mailbox.messages[-1]).group(1)


def everything_stored(engine) -> str:
    return "\n".join(json.dumps(rows(engine, name), default=str, ensure_ascii=False) for name in ALL_TABLES)


def test_direct_command_keeps_the_code_out_of_every_table_and_log(make_client, smtp, engine, logs):
    client, code = customer_client(make_client, smtp)
    captured = listen(logs)

    parked = chat(client, f"/verify_customer_email email=ana@example.com code={code}")
    assert parked["status"] == "awaiting_confirmation"
    [c] = parked["confirmations"]
    assert c["args"] == {"email": "ana@example.com", "code": "[secret]"}
    assert parked["tool_executions"][0]["args"]["code"] == "[secret]"
    row = rows(engine, "pending_confirmations", tool_name="verify_customer_email")[0]
    assert row["args"]["code"] == "[secret]" and row["args"][SEALED]  # sealed, never plain
    done = chat(client, f"confirm {c['token']}")

    assert done["status"] == "success", done
    assert rows(engine, "customers")[0]["verified"] is True
    assert done["tool_executions"][0]["args"] == {"email": "ana@example.com", "code": "[secret]"}
    assert code not in json.dumps([parked, done])
    stored = everything_stored(engine)
    assert code not in stored and "[secret]" in stored
    assert code not in "\n".join(captured.lines)
    kinds = {r["kind"] for r in rows(engine, "audit_events")}
    assert {"command", "request", "confirmation_requested", "confirmation_consumed", "tool_execution"} <= kinds


def test_a_planned_call_masks_the_code_the_user_wrote_in_words(make_client, smtp, engine, model, logs):
    client, code = customer_client(make_client, smtp)
    captured = listen(logs)
    model.push(plan(f"I will check the code {code} for ana@example.com.",
                    ("verify_customer_email", {"email": "ana@example.com", "code": code}),
                    facts={"last_code": code}))

    parked = chat(client, f"Hi! Please verify ana@example.com, my code is {code}, thanks", session_id="s2")
    assert parked["status"] == "awaiting_confirmation" and code not in json.dumps(parked)
    done = chat(client, "confirm", session_id="s2")  # the one waiting: a bare word will do

    assert done["status"] == "success", done
    assert rows(engine, "customers")[0]["verified"] is True
    assert code not in json.dumps(done)
    assert code not in everything_stored(engine) and code not in "\n".join(captured.lines)
    user_text = rows(engine, "messages", session_id="s2")[0]["content"]
    assert user_text == "Hi! Please verify ana@example.com, my code is [secret], thanks"
    [raw] = [e["data"]["raw_output"] for e in rows(engine, "audit_events", kind="model_call")]
    assert "[secret]" in raw
    model.push(plan("ok"))
    chat(client, "what did I send?", session_id="s2")
    assert code not in str(model.calls[-1]["messages"])  # the model's history holds no code


def test_an_invalid_secret_is_masked_too(client, engine):
    body = chat(client, "/verify_customer_email email=ana@example.com code=12ab56")
    assert body["tool_executions"][0]["status"] == "error"
    assert "12ab56" not in json.dumps(body) and "12ab56" not in everything_stored(engine)


def test_the_sealed_code_opens_after_key_rotation(make_client, smtp, engine):
    client, code = customer_client(make_client, smtp, confirm_secret="old-key")
    token = chat(client, f"/verify_customer_email email=ana@example.com code={code}")["confirmations"][0]["token"]
    rotated = make_client(smtp_host="127.0.0.1", smtp_port=smtp[0], smtp_starttls=False,
                          confirm_secret="old-key,new-key")
    assert chat(rotated, f"confirm {token}")["status"] == "success"
    assert rows(engine, "customers")[0]["verified"] is True


def test_an_altered_seal_runs_nothing(make_client, smtp, engine):
    client, code = customer_client(make_client, smtp)
    token = chat(client, f"/verify_customer_email email=ana@example.com code={code}")["confirmations"][0]["token"]
    row = rows(engine, "pending_confirmations", tool_name="verify_customer_email")[0]
    forged = {**row["args"], SEALED: row["args"][SEALED][:-8] + "AAAAAAAA"}
    with engine.begin() as conn:
        conn.execute(sa.update(pending_confirmations).where(pending_confirmations.c.id == row["id"])
                     .values(args=forged))
    body = chat(client, f"confirm {token}")
    assert body["status"] == "error" and "not valid" in body["error"]
    assert rows(engine, "customers")[0]["verified"] is False


class PinArgs(ToolArgs):
    pin: str


def test_secret_args_must_name_arguments():
    with pytest.raises(BadToolDeclaration):
        @tool(secret_args=["password"])
        def login(args: PinArgs, ctx) -> dict:
            return {}


def test_a_class_tool_declares_its_secrets():
    from app.tools import BaseTool

    class Unlock(BaseTool):
        name = "unlock"
        args_model = PinArgs
        secret_args = ("pin",)

    assert Unlock.as_tool().masked({"pin": "9876"}) == {"pin": "[secret]"}


def test_an_operator_approval_runs_a_sealed_call_with_its_real_value(client, engine):
    """`llm-planner confirm ID` on a parked call with a secret argument: the seal is opened to
    run it (the tool gets the real code), and the code is still nowhere on record."""
    from app.confirmations.approvals import approve
    from tests.helpers import chat, rows

    parked = chat(client, "/verify_customer_email email=ana@example.com code=731904")
    assert parked["status"] == "awaiting_confirmation"
    [pending] = rows(engine, "pending_confirmations")
    decided, execution = approve(client.app.state.runtime, pending["id"], "maria")
    assert "invalid arguments" not in (execution.error or "")  # the real, unsealed arguments reached the tool
    assert "no pending verification" in execution.error
    for table in ("pending_confirmations", "audit_events", "messages"):
        assert "731904" not in repr(rows(engine, table)), table
