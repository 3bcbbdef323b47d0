"""register_customer → e-mailed code → verify_customer_email, over a real SMTP server."""

import re

import sqlalchemy as sa

from plugins.customers.records import email_verifications
from tests.helpers import chat, rows


def confirm(client, body):
    return chat(client, f"confirm {body['confirmations'][0]['token']}")


def register(client, smtp_inbox, email="ana@example.com"):
    done = confirm(client, chat(client, f"/register_customer name=Ana email={email}"))
    assert done["status"] == "success", done
    return re.search(r"code is (\d{6})", smtp_inbox.messages[-1]).group(1)


def test_code_by_email_then_verified(make_client, smtp, engine):
    port, inbox = smtp
    client = make_client(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    code = register(client, inbox)
    assert "To: ana@example.com" in inbox.messages[0]
    [stored] = rows(engine, "email_verifications")
    assert code not in str(stored)  # only an HMAC of it is kept

    wrong = confirm(client, chat(client, f"/verify_customer_email email=ana@example.com code={(int(code) + 1) % 10**6:06d}"))
    assert wrong["status"] == "tool_error" and "4 attempts left" in wrong["reply"]
    right = confirm(client, chat(client, f"/verify_customer_email email=ana@example.com code={code}"))
    assert right["status"] == "success" and rows(engine, "customers")[0]["verified"] is True
    again = confirm(client, chat(client, f"/verify_customer_email email=ana@example.com code={code}"))
    assert "no pending verification" in again["reply"]


def test_attempts_run_out(make_client, smtp, engine):
    port, inbox = smtp
    client = make_client(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, verification_max_attempts=2)
    code = register(client, inbox)
    bad = f"{(int(code) + 7) % 10**6:06d}"
    for _ in range(2):
        confirm(client, chat(client, f"/verify_customer_email email=ana@example.com code={bad}"))
    late = confirm(client, chat(client, f"/verify_customer_email email=ana@example.com code={code}"))
    assert "too many wrong codes" in late["reply"] and rows(engine, "customers")[0]["verified"] is False


def test_expired_code(make_client, smtp, engine):
    port, inbox = smtp
    client = make_client(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    code = register(client, inbox)
    with engine.begin() as conn:
        conn.execute(sa.update(email_verifications).values(expires_at=rows(engine, "email_verifications")[0]["created_at"]))
    body = confirm(client, chat(client, f"/verify_customer_email email=ana@example.com code={code}"))
    assert "expired" in body["reply"] and rows(engine, "customers")[0]["verified"] is False


def test_without_smtp_the_code_goes_to_the_log(client, caplog):
    with caplog.at_level("WARNING", logger="llm_planner.mail"):
        done = confirm(client, chat(client, "/register_customer name=Bo email=bo@example.com"))
    assert "service log" in done["tool_executions"][0]["output"]["verification"]
    assert re.search(r"code is \d{6}", caplog.text)


def test_malformed_code_is_refused_before_parking(client, engine):
    body = chat(client, "/verify_customer_email email=ana@example.com code=12ab56")
    assert body["tool_executions"][0]["status"] == "error" and rows(engine, "pending_confirmations") == []


CLASS_PLUGIN = '''
from pydantic import Field
from app.tools import BaseTool, ToolArgs, ToolError


class EchoArgs(ToolArgs):
    text: str = Field(..., max_length=100)


class Shout(BaseTool):
    """Repeat the text in capitals."""
    name = "shout"
    args_model = EchoArgs

    def run(self, args, ctx):
        return {"text": args.text.upper()}


class Stamp(BaseTool):
    """Write the text into stamp.txt (asks first)."""
    name = "stamp"
    args_model = EchoArgs
    permissions = ("write",)
    tag = "write"

    def preview(self, args, ctx):
        return f"stamp.txt will say {args.text!r}"

    def run(self, args, ctx):
        (ctx.workspace.resolve("stamp.txt")).write_text(args.text)
        return {"ok": True}
'''


def test_class_based_plugin(make_client, tmp_path, workspace):
    plugins = tmp_path / "class_plugins"
    plugins.mkdir()
    (plugins / "shouting.py").write_text(CLASS_PLUGIN)
    client = make_client(plugins_dir=plugins)
    assert chat(client, "/shout text=hello")["tool_executions"][0]["output"] == {"text": "HELLO"}
    parked = chat(client, "/stamp text=approved")
    assert parked["confirmations"][0]["preview"] == "stamp.txt will say 'approved'"
    chat(client, f"confirm {parked['confirmations'][0]['token']}")
    assert (workspace / "stamp.txt").read_text() == "approved"
