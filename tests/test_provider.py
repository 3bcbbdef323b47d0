"""/wa/agent and the signed provider webhook: signatures, replay window, exactly-once."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from tests.helpers import plan, rows

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "plain-old-secret"


def signed(body: dict | bytes, secret: str = SECRET, msg_id: str | None = None, at: float | None = None,
           extra_signatures: str = "") -> tuple[bytes, dict]:
    """Headers made by the reference Standard Webhooks library, not by our code."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = datetime.fromtimestamp(at if at is not None else time.time(), tz=timezone.utc)
    key = secret if secret.startswith("whsec_") else secret.encode()
    signature = Webhook(key).sign(msg_id, stamp, raw.decode())
    return raw, {"webhook-id": msg_id, "webhook-timestamp": str(int(stamp.timestamp())),
                 "webhook-signature": f"{extra_signatures} {signature}".strip(),
                 "content-type": "application/json"}


def deliver(client, body, **kwargs):
    raw, headers = signed(body, **kwargs)
    return client.post("/provider/inbound", content=raw, headers=headers)


@pytest.fixture
def provider(make_client):
    return make_client(provider_hmac_secret=f"{OLD_SECRET},{SECRET}")


def message(text="hi", sender="+5491100000000", message_id=None):
    body = {"from": sender, "text": text}
    if message_id:
        body["message_id"] = message_id
    return body


def test_signed_delivery_is_processed(provider, model, engine):
    model.push(plan("Hola!"))
    response = deliver(provider, message("hola", message_id="m1"))
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success" and body["reply"] == "Hola!"
    assert body["session_id"] == "+5491100000000" and body["duplicate"] is False
    assert model.calls[0]["messages"][-1]["content"] == "hola"
    [row] = rows(engine, "dedupe_messages")
    assert row["channel"] == "provider" and row["message_id"] == "m1" and row["status"] == "done"
    # Answered, its raw text is no longer kept beside the masked conversation.
    assert row["text"] == "" and [m["content"] for m in rows(engine, "messages", role="user")] == ["hola"]


def test_rotated_and_multiple_signatures(provider, model):
    model.push(plan("a"), plan("b"))
    assert deliver(provider, message(), secret=OLD_SECRET).status_code == 200
    raw, headers = signed(message(), extra_signatures="v1,bm90LWl0 v2,whatever")
    assert provider.post("/provider/inbound", content=raw, headers=headers).status_code == 200


@pytest.mark.parametrize("attack", ["unsigned", "tampered", "wrong_secret", "stale", "future",
                                    "bad_timestamp", "wrong_version", "id_swapped"])
def test_bad_signatures_are_401_audited_and_run_nothing(provider, model, engine, attack):
    raw, headers = signed(message("/write_file path=x content=y", message_id=f"m-{attack}"))
    if attack == "unsigned":
        headers.pop("webhook-signature")
    elif attack == "tampered":
        raw = raw.replace(b"/write_file", b"/list_dir  ")
    elif attack == "wrong_secret":
        raw, headers = signed(json.loads(raw), secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB")
    elif attack == "stale":
        raw, headers = signed(json.loads(raw), at=time.time() - 301)
    elif attack == "future":
        raw, headers = signed(json.loads(raw), at=time.time() + 320)  # slack: time passes before the check
    elif attack == "bad_timestamp":
        headers["webhook-timestamp"] = "yesterday"
    elif attack == "wrong_version":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    elif attack == "id_swapped":
        headers["webhook-id"] = "msg_other"
    response = provider.post("/provider/inbound", content=raw, headers=headers)
    assert response.status_code == 401
    assert rows(engine, "dedupe_messages") == [] and rows(engine, "pending_confirmations") == []
    [rejected] = rows(engine, "audit_events", kind="signature_rejected")
    assert rejected["data"]["reason"]
    assert model.calls == []


def test_window_edges_are_accepted(provider, model):
    model.push(plan("a"), plan("b"))
    assert deliver(provider, message(), at=time.time() - 290).status_code == 200
    assert deliver(provider, message(), at=time.time() + 290).status_code == 200


def test_unconfigured_secret_is_503_and_verification_can_be_turned_off(make_client, model):
    assert deliver(make_client(), message()).status_code == 503
    model.push(plan("ok"))
    open_ = make_client(provider_verify_signature=False)
    response = open_.post("/provider/inbound", json=message(message_id="x1"))
    assert response.status_code == 200 and response.json()["reply"] == "ok"


def test_invalid_body_after_signature_is_422(provider, engine):
    for body in ({"text": "no sender"}, {"from": "+1", "text": ""}, b"not json", {"from": "+1", "text": 5}):
        assert deliver(provider, body).status_code == 422
    assert rows(engine, "dedupe_messages") == []


def test_duplicate_gets_the_stored_answer_and_runs_nothing(provider, model, engine):
    model.push(plan("first answer", ("list_dir", {})))
    first = deliver(provider, message(message_id="dup-1")).json()
    second = deliver(provider, message(message_id="dup-1")).json()
    assert second.pop("duplicate") is True and first.pop("duplicate") is False
    assert second == first and len(model.calls) == 1
    assert len(rows(engine, "audit_events", kind="tool_execution")) == 1


def test_message_ids_differing_only_by_case_are_two_messages(provider, model, engine):
    """Provider ids are case-sensitive (WhatsApp's are base64): on MySQL/MariaDB the default
    collation dropped the second as a duplicate of the first (migration 0008)."""
    model.push(plan("first"), plan("second"))
    first = deliver(provider, message("one", message_id="wamid.AbC")).json()
    second = deliver(provider, message("two", message_id="wamid.aBc")).json()
    assert first["duplicate"] is False and second["duplicate"] is False
    assert (first["reply"], second["reply"]) == ("first", "second") and len(model.calls) == 2
    assert sorted(r["message_id"] for r in rows(engine, "dedupe_messages")) == ["wamid.AbC", "wamid.aBc"]


def test_webhook_id_is_the_key_when_message_id_is_absent(provider, model):
    model.push(plan("once"))
    raw, headers = signed(message(), msg_id="wh-42")
    first = provider.post("/provider/inbound", content=raw, headers=headers).json()
    raw, headers = signed(message(), msg_id="wh-42")
    again = provider.post("/provider/inbound", content=raw, headers=headers).json()
    assert again["duplicate"] is True and again["request_id"] == first["request_id"]
    assert len(model.calls) == 1


def test_twenty_concurrent_copies_process_once(provider, model, engine):
    def slow_plan(messages, schema):
        time.sleep(0.3)
        return json.dumps(plan("only once", ("list_dir", {})))
    model.push(slow_plan)
    raw, headers = signed(message(message_id="burst"))

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: provider.post("/provider/inbound", content=raw, headers=headers),
                                range(20)))

    assert {a.status_code for a in answers} == {200}
    bodies = [a.json() for a in answers]
    assert sorted(b["duplicate"] for b in bodies) == [False] + [True] * 19
    assert {b["request_id"] for b in bodies} == {bodies[0]["request_id"]}
    assert {b["reply"] for b in bodies} == {bodies[0]["reply"]}
    assert len(model.calls) == 1 and len(rows(engine, "dedupe_messages")) == 1
    assert len(rows(engine, "audit_events", kind="tool_execution")) == 1


def test_duplicate_while_first_is_slow_gets_503_retry_after(make_client, model):
    client = make_client(provider_hmac_secret=SECRET, inbox_wait_sec=0.2)

    def slow_plan(messages, schema):
        time.sleep(1.0)
        return json.dumps(plan("late"))
    model.push(slow_plan)
    raw, headers = signed(message(message_id="slow"))
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.post, "/provider/inbound", content=raw, headers=headers)
        time.sleep(0.3)
        second = client.post("/provider/inbound", content=raw, headers=headers)
    assert second.status_code == 503 and second.headers["retry-after"]
    assert first.result().status_code == 200
    third = client.post("/provider/inbound", content=raw, headers=headers).json()
    assert third["duplicate"] is True and third["reply"] == "late"


def test_confirmation_over_the_webhook_with_a_short_code(provider, model, workspace, engine):
    model.push(plan("Writing.", ("write_file", {"path": "w.txt", "content": "from phone"})))
    parked = deliver(provider, message("write it")).json()
    code = parked["confirmations"][0]["token"]
    assert len(code) == 9 and code[4] == "-" and f"confirm {code}" in parked["reply"]

    typed = code.lower().replace("-", " ")  # as a person might type it
    done = deliver(provider, message(f"Confirm {typed}")).json()
    again = deliver(provider, message(f"confirm {code}")).json()
    elsewhere = deliver(provider, message(f"confirm {code}", sender="+5491199999999")).json()

    assert done["status"] == "success" and (workspace / "w.txt").read_text() == "from phone"
    assert again["status"] == "error" and "already used" in again["error"]
    assert elsewhere["status"] == "error"


def test_wrong_codes_lock_the_session(make_client, model, workspace):
    client = make_client(provider_hmac_secret=SECRET, confirm_max_failures=3)
    model.push(plan("Writing.", ("write_file", {"path": "w.txt", "content": "x"})))
    code = deliver(client, message("write")).json()["confirmations"][0]["token"]
    for guess in ("AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"):
        assert deliver(client, message(f"confirm {guess}")).json()["status"] == "error"
    locked = deliver(client, message(f"confirm {code}")).json()
    assert locked["status"] == "error" and "Too many wrong" in locked["error"]
    assert not (workspace / "w.txt").exists()


def test_wa_agent_key_and_channel(make_client, model, workspace):
    closed = make_client()
    assert closed.post("/wa/agent", json={"message": "hi", "session_id": "+1"}).status_code == 503
    client = make_client(internal_api_key="inside")
    assert client.post("/wa/agent", json={"message": "hi", "session_id": "+1"},
                       headers={"x-api-key": "nope"}).status_code == 401
    model.push(plan("Writing.", ("write_file", {"path": "wa.txt", "content": "x"})))
    parked = client.post("/wa/agent", json={"message": "write", "session_id": "+1"},
                         headers={"x-api-key": "inside"}).json()
    code = parked["confirmations"][0]["token"]
    assert parked["session_id"] == "+1" and len(code) == 9
    on_web = client.post("/agent", json={"message": f"confirm {code}", "session_id": "+1"}).json()
    assert on_web["status"] == "error" and not (workspace / "wa.txt").exists()
    done = client.post("/wa/agent", json={"message": f"confirmar {code}", "session_id": "+1"},
                       headers={"x-api-key": "inside"}).json()
    assert done["status"] == "success" and (workspace / "wa.txt").exists()


def test_a_sender_over_the_rate_limit_is_refused_and_nothing_is_stored(make_client, model, engine):
    """The limit is per sender, checked on the turn's thread before the delivery is stored:
    the refused delivery leaves no dedupe row and starts no turn."""
    client = make_client(provider_hmac_secret=SECRET, rate_limit_enabled=True, rate_limit_requests=2,
                         rate_limit_namespace=uuid.uuid4().hex)
    model.push(plan("one"), plan("two"))
    codes = [deliver(client, message(f"m{n}", message_id=f"rl-{n}")).status_code for n in range(3)]
    assert codes == [200, 200, 429] and len(model.calls) == 2
    assert [r["message_id"] for r in rows(engine, "dedupe_messages")] == ["rl-0", "rl-1"]
    assert deliver(client, message("other", sender="+5491199999999", message_id="rl-x")).status_code == 200
    [event] = rows(engine, "audit_events", kind="rate_limited")
    assert event["data"]["scope"] == "session"
