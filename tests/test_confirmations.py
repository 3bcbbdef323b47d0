"""Write tools park behind a signed, single-use token bound to session, channel, tool and args."""

import multiprocessing
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from itsdangerous import URLSafeTimedSerializer

from app.confirmations.tokens import SALT, Confirmations, ConfirmError
from app.store.db import create_db_engine
from app.store.tables import pending_confirmations
from tests.helpers import TEST_SECRET, chat, plan, rows


def park_write(client, model, path="notes.txt", content="hello", session_id="s1") -> dict:
    model.push(plan("Writing it.", ("write_file", {"path": path, "content": content})))
    body = chat(client, f"write {path}", session_id=session_id)
    assert body["status"] == "awaiting_confirmation", body
    return body


def test_write_is_parked_with_preview_and_nothing_runs(client, model, workspace, engine):
    body = park_write(client, model)

    [c] = body["confirmations"]
    assert c["tool_name"] == "write_file" and c["args"] == {"path": "notes.txt", "content": "hello"}
    assert "create notes.txt" in c["preview"] and c["expires_at"]
    assert body["tool_executions"][0]["status"] == "pending_confirmation"
    assert f"confirm {c['token']}" in body["reply"] and f"cancel {c['token']}" in body["reply"]
    assert not (workspace / "notes.txt").exists()
    [row] = rows(engine, "pending_confirmations")
    assert row["status"] == "pending" and row["session_id"] == "s1" and row["channel"] == "web"
    assert c["token"] not in str(rows(engine, "audit_events"))  # only the token id is on record


def test_confirm_runs_once_then_refuses_reuse(client, model, workspace, engine):
    token = park_write(client, model)["confirmations"][0]["token"]

    first = chat(client, f"confirm {token}")
    (workspace / "notes.txt").write_text("changed by someone else")
    again = chat(client, f"CONFIRM {token}")

    assert first["status"] == "success" and first["tool_executions"][0]["status"] == "success"
    assert again["status"] == "error" and "already used" in again["error"]
    assert again["tool_executions"] == []
    assert (workspace / "notes.txt").read_text() == "changed by someone else"
    assert rows(engine, "pending_confirmations")[0]["status"] == "consumed"
    kinds = [r["kind"] for r in rows(engine, "audit_events")]
    assert kinds.count("confirmation_consumed") == 1 and "confirmation_rejected" in kinds


def test_spanish_words_and_cancel(client, model, workspace, engine):
    token = park_write(client, model)["confirmations"][0]["token"]

    cancelled = chat(client, f"Cancelar {token}")
    refused = chat(client, f"confirmar {token}")

    assert cancelled["status"] == "success"
    assert cancelled["tool_executions"][0]["status"] == "cancelled"
    assert refused["status"] == "error" and "cancelled" in refused["error"]
    assert not (workspace / "notes.txt").exists()
    assert rows(engine, "pending_confirmations")[0]["status"] == "cancelled"


def test_other_session_is_refused(client, model, workspace):
    token = park_write(client, model)["confirmations"][0]["token"]

    other_session = chat(client, f"confirm {token}", session_id="mallory")

    assert other_session["status"] == "error" and "another conversation" in other_session["error"]
    assert not (workspace / "notes.txt").exists()


def test_other_channel_refused(make_client, model, workspace):
    client = make_client(agent_api_key="k")
    client.headers["X-API-Key"] = "k"
    token = park_write(client, model, session_id="s1")
    token = token["confirmations"][0]["token"]
    body = client.post("/agent/run", json={"input": f"confirm {token}", "session_id": "s1"},
                       headers={"X-API-Key": "k"}).json()
    assert body["status"] == "error" and "another channel" in body["error"]
    assert not (workspace / "notes.txt").exists()


def test_tampered_tokens_are_refused(client, model, workspace, engine):
    token = park_write(client, model)["confirmations"][0]["token"]
    payload, stamp, sig = token.split(".")
    # A character inside the signature: the last one also holds base64 padding bits, and
    # changing only those leaves the same signature (the same token, not a forgery).
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    forged = URLSafeTimedSerializer("wrong-key", salt=SALT).dumps(
        [rows(engine, "pending_confirmations")[0]["token_id"], "s1", "web", "write_file", "0" * 32])
    for bad in (flipped, forged, "garbage", payload, f"{payload}.{stamp}"):
        body = chat(client, f"confirm {bad}")
        assert body["status"] == "error" and "not valid" in body["error"], bad
    assert not (workspace / "notes.txt").exists()
    assert rows(engine, "pending_confirmations")[0]["status"] == "pending"


def test_token_for_other_arguments_is_refused(client, model, workspace, engine):
    """A validly signed token whose arguments differ from what was parked runs nothing."""
    park_write(client, model, content="harmless")
    token_id = rows(engine, "pending_confirmations")[0]["token_id"]
    signer = URLSafeTimedSerializer(TEST_SECRET, salt=SALT)
    for forged in ([token_id, "s1", "web", "write_file", "f" * 32],
                   [token_id, "s1", "web", "register_customer", rows(engine, "pending_confirmations")[0]["args_hash"]]):
        body = chat(client, f"confirm {signer.dumps(forged)}")
        assert body["status"] == "error" and "not valid" in body["error"]
    # and a stored call altered behind the token's back is refused too
    with engine.begin() as conn:
        conn.execute(sa.update(pending_confirmations).values(args={"path": "x.sh", "content": "evil"}))
    token = signer.dumps([token_id, "s1", "web", "write_file", rows(engine, "pending_confirmations")[0]["args_hash"]])
    body = chat(client, f"confirm {token}")
    assert body["status"] == "error"
    assert list(workspace.iterdir()) == []


def test_expired_in_database(client, model, workspace, engine):
    token = park_write(client, model)["confirmations"][0]["token"]
    with engine.begin() as conn:
        conn.execute(sa.update(pending_confirmations).values(
            expires_at=rows(engine, "pending_confirmations")[0]["created_at"]))
    body = chat(client, f"confirm {token}")
    assert body["status"] == "error" and "expired" in body["error"]
    assert not (workspace / "notes.txt").exists()


def test_expired_signature(make_client, model, workspace):
    client = make_client(confirm_ttl_sec=1)
    token = park_write(client, model)["confirmations"][0]["token"]
    time.sleep(2.1)
    body = chat(client, f"confirm {token}")
    assert body["status"] == "error" and "expired" in body["error"]
    assert not (workspace / "notes.txt").exists()


def test_key_rotation(make_client, model, workspace):
    old = make_client(confirm_secret="old-key")
    token = park_write(old, model)["confirmations"][0]["token"]

    rotated = make_client(confirm_secret="old-key,new-key")
    assert chat(rotated, f"confirm {token}")["status"] == "success"

    token = park_write(old, model, path="b.txt")["confirmations"][0]["token"]
    dropped = make_client(confirm_secret="new-key")
    body = chat(dropped, f"confirm {token}")
    assert body["status"] == "error" and not (workspace / "b.txt").exists()


def test_eight_concurrent_confirms_run_once(client, model, engine):
    model.push(plan("Registering.", ("register_customer", {"name": "Ana", "email": "ana@example.com"})))
    token = chat(client, "register Ana")["confirmations"][0]["token"]

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: chat(client, f"confirm {token}"), range(8)))

    assert sorted(b["status"] for b in bodies) == ["error"] * 7 + ["success"]
    assert len(rows(engine, "customers")) == 1
    assert len(rows(engine, "audit_events", kind="confirmation_consumed")) == 1


def _consume_in_process(url: str, token: str, barrier) -> str:
    engine = create_db_engine(url)
    confirmations = Confirmations([TEST_SECRET], 600)
    barrier.wait()
    try:
        with engine.begin() as conn:
            confirmations.consume(conn, token, channel="web", session_id="s1")
        return "ran"
    except ConfirmError as exc:
        return exc.code
    finally:
        engine.dispose()


def test_concurrent_confirms_across_processes_claim_once(client, model, backend):
    _, url, _ = backend
    token = park_write(client, model)["confirmations"][0]["token"]
    ctx = multiprocessing.get_context("fork")  # children build their own engine
    with ctx.Manager() as manager:
        barrier = manager.Barrier(8)
        with ctx.Pool(8) as pool:
            results = pool.starmap(_consume_in_process, [(url, token, barrier)] * 8)
    assert sorted(results) == ["ran"] + ["token_used"] * 7


def test_model_never_sees_a_live_token(client, model):
    token = park_write(client, model)["confirmations"][0]["token"]
    chat(client, f"confirm {token}")
    model.push(plan("ok"))
    chat(client, "what happened?")
    assert token not in str(model.calls[-1]["messages"])


def test_blocked_write_permission_parks_nothing(make_client, model, engine, workspace):
    client = make_client(blocked_permissions="write")
    model.push(plan("x", ("write_file", {"path": "a", "content": "b"})))
    body = chat(client, "write")
    assert body["status"] == "tool_error" and body["tool_executions"][0]["status"] == "blocked"
    assert body["confirmations"] == [] and rows(engine, "pending_confirmations") == []


def test_permission_blocked_after_parking_is_checked_again(make_client, model, workspace):
    token = park_write(make_client(), model)["confirmations"][0]["token"]
    body = chat(make_client(blocked_permissions="write"), f"confirm {token}")
    assert body["status"] == "tool_error" and body["tool_executions"][0]["status"] == "blocked"
    assert not (workspace / "notes.txt").exists()


def test_spanish_service_texts(make_client, model):
    client = make_client(reply_language="es")
    body = park_write(client, model)
    assert "confirmar " in body["reply"] and "necesita tu confirmación" in body["reply"]
    token = body["confirmations"][0]["token"]
    chat(client, f"confirm {token}")
    assert "ya se usó" in chat(client, f"confirm {token}")["error"]


def test_token_glued_to_other_text_is_masked_too(client, model):
    token = park_write(client, model)["confirmations"][0]["token"]
    model.push(plan("noted"), plan("ok"))
    chat(client, f"my_note_{token}_end and again:{token}")
    chat(client, "what did I say?")
    assert token not in str(model.calls[-1]["messages"]) and "[token]" in str(model.calls[-1]["messages"])


def test_a_giant_word_in_tool_output_does_not_stall_the_turn(make_client, model, workspace):
    """Masking once took time quadratic in the length of a word: a 200,000-character line
    read back for the answerer held the turn for over a minute."""
    client = make_client(answerer_enabled=True, max_output_size=250_000)
    (workspace / "blob.txt").write_text("A" * 200_000 + "\n")
    model.push(plan("reading", ("read_file", {"path": "blob.txt"})), "It is one long line of A.")
    answer = {}
    turn = threading.Thread(target=lambda: answer.update(chat(client, "what is in blob.txt?")))
    turn.start()
    turn.join(30)
    assert answer.get("reply") == "It is one long line of A."


def wa(client, text, phone="+1"):
    response = client.post("/wa/agent", json={"message": text, "session_id": phone}, headers={"x-api-key": "inside"})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_pause_says_until_when(make_client, model, workspace):
    client = make_client(internal_api_key="inside", confirm_max_failures=2, confirm_ttl_sec=600)
    model.push(plan("Writing.", ("write_file", {"path": "wa.txt", "content": "x"})))
    wa(client, "write")
    assert "paused" not in wa(client, "confirm AAAA-AAAA")["error"]
    locked = wa(client, "confirm BBBB-BBBB")
    assert re.search(r"paused until \d\d:\d\d UTC \(about 10 min\)", locked["error"]), locked["error"]
    again = wa(client, "confirm CCCC-CCCC")
    assert re.search(r"paused until \d\d:\d\d UTC \(about (9|10) min\)", again["error"]), again["error"]
    assert "paused until" in wa(client, "confirm")["error"]  # a bare word waits out the pause too
    assert not (workspace / "wa.txt").exists()


def test_a_bare_confirm_takes_the_one_waiting(client, model, workspace):
    park_write(client, model)
    done = chat(client, "Confirm")
    assert done["status"] == "success" and (workspace / "notes.txt").read_text() == "hello"
    none_left = chat(client, "confirmar")
    assert none_left["status"] == "error" and "no confirmation waiting" in none_left["error"]
    park_write(client, model, path="b.txt")
    assert chat(client, "CANCELAR")["tool_executions"][0]["status"] == "cancelled"
    assert not (workspace / "b.txt").exists()


def test_a_bare_confirm_with_several_waiting_lists_them(client, model, workspace):
    model.push(plan("Both.", ("write_file", {"path": "a.txt", "content": "1"}),
                    ("write_file", {"path": "b.txt", "content": "2"})))
    tokens = [c["token"] for c in chat(client, "write both")["confirmations"]]
    listed = chat(client, "confirm")
    assert listed["status"] == "error" and "2 confirmations are waiting" in listed["error"]
    assert "create a.txt" in listed["reply"] and "create b.txt" in listed["reply"]
    assert not (workspace / "a.txt").exists() and not (workspace / "b.txt").exists()
    offered = re.findall(r"confirm (\S+) /", listed["reply"])
    assert len(offered) == 2 and chat(client, f"confirm {offered[1]}")["status"] == "success"
    assert (workspace / "b.txt").exists() and not (workspace / "a.txt").exists()
    assert chat(client, f"confirm {tokens[1]}")["status"] == "error"  # the same call: taken once


def test_everyday_words_answer_only_a_fresh_request(client, model, workspace):
    park_write(client, model)
    assert chat(client, "¡Sí!")["status"] == "success" and (workspace / "notes.txt").exists()
    model.push(plan("Yes to what?"))
    calls = len(model.calls)
    planned = chat(client, "yes")  # nothing waiting: an ordinary message for the planner
    assert planned["reply"] == "Yes to what?" and len(model.calls) == calls + 1

    park_write(client, model, path="later.txt")
    model.push(plan("Sure."), plan("Fine."))
    chat(client, "how are you?")
    assert chat(client, "ok")["reply"] == "Fine."  # the request is no longer the latest turn
    assert not (workspace / "later.txt").exists()
    assert chat(client, "confirm")["status"] == "success" and (workspace / "later.txt").exists()


def test_eight_concurrent_bare_confirms_run_once(client, model, engine):
    model.push(plan("Registering.", ("register_customer", {"name": "Ana", "email": "ana@example.com"})))
    chat(client, "register Ana")
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: chat(client, "confirm"), range(8)))
    assert sorted(b["status"] for b in bodies) == ["error"] * 7 + ["success"]
    assert len(rows(engine, "customers")) == 1
    assert len(rows(engine, "audit_events", kind="confirmation_consumed")) == 1
