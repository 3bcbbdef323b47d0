"""The WhatsApp Cloud API webhook (against a local fake Graph API) and Twilio."""

import base64
import hashlib
import hmac
import json
import logging
import time

import pytest
from twilio.request_validator import RequestValidator

from tests.fake_http import RecordingServer
from tests.helpers import plan, rows

APP_SECRET, VERIFY = "meta-app-secret", "verify-me"


@pytest.fixture
def graph():
    with RecordingServer() as server:
        yield server


@pytest.fixture
def meta(make_client, graph):
    return make_client(meta_app_secret=APP_SECRET, meta_verify_token=VERIFY, meta_access_token="graph-token",
                       meta_graph_url=graph.url)


def payload(*messages, statuses=()):
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PNID"},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5491100000000"}],
        "messages": list(messages), "statuses": list(statuses)}}]}]}


def text(body, wamid="wamid.1", sender="5491100000000"):
    return {"from": sender, "id": wamid, "timestamp": "1700000000", "type": "text", "text": {"body": body}}


def button(reply_id, wamid="wamid.btn"):
    return {"from": "5491100000000", "id": wamid, "timestamp": "1700000000", "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": reply_id, "title": "Confirm"}}}


def post(client, body, secret=APP_SECRET):
    """Deliver, then wait until the acknowledged messages have been answered."""
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    response = client.post("/provider/meta", content=raw,
                           headers={"content-type": "application/json", "x-hub-signature-256": signature})
    assert client.app.state.runtime.deliveries.drain(10)
    return response


def test_handshake(meta, make_client, engine):
    ok = meta.get("/provider/meta", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                            "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = meta.get("/provider/meta", params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                             "hub.challenge": "x"})
    assert bad.status_code == 403 and rows(engine, "audit_events", kind="signature_rejected")
    assert make_client().get("/provider/meta").status_code == 503


def test_text_message_is_acknowledged_processed_and_answered(meta, model, graph, engine):
    model.push(plan("Hola Ana"))
    ack = post(meta, payload(text("hola")))
    assert ack.status_code == 200 and ack.json()["accepted"] == 1
    [sent] = graph.requests
    assert sent["path"] == "/PNID/messages" and sent["headers"]["Authorization"] == "Bearer graph-token"
    assert sent["body"]["to"] == "5491100000000" and sent["body"]["text"]["body"] == "Hola Ana"
    [row] = rows(engine, "dedupe_messages")
    assert row["channel"] == "meta" and row["message_id"] == "wamid.1" and row["status"] == "done"


def test_bad_signature_and_statuses(meta, model, graph, engine):
    assert post(meta, payload(text("hola")), secret="wrong").status_code == 401
    raw = json.dumps(payload(text("hola"))).encode()
    assert meta.post("/provider/meta", content=raw, headers={"content-type": "application/json"}).status_code == 401
    statuses = post(meta, payload(statuses=[{"id": "wamid.x", "status": "delivered"}]))
    assert statuses.status_code == 200 and statuses.json()["accepted"] == 0
    assert model.calls == [] and graph.requests == [] and rows(engine, "dedupe_messages") == []


def test_retried_delivery_is_not_processed_again(meta, model, graph):
    model.push(plan("once"))
    post(meta, payload(text("hola")))
    again = post(meta, payload(text("hola")))
    assert again.json() == {"status": "accepted", "accepted": 0, "duplicates": 1, "ignored": 0}
    assert len(model.calls) == 1 and len(graph.requests) == 1


def test_confirmation_by_tapping_a_button(meta, model, graph, workspace):
    model.push(plan("Writing.", ("write_file", {"path": "m.txt", "content": "tap"})))
    post(meta, payload(text("write m.txt")))
    reply, buttons = graph.requests
    assert "confirm " in reply["body"]["text"]["body"]
    choices = buttons["body"]["interactive"]["action"]["buttons"]
    confirm_id = choices[0]["reply"]["id"]
    assert confirm_id.startswith("confirm ") and choices[1]["reply"]["id"].startswith("cancel ")
    assert all(len(c["reply"]["title"]) <= 20 for c in choices)
    assert not (workspace / "m.txt").exists()

    post(meta, payload(button(confirm_id)))
    assert (workspace / "m.txt").read_text() == "tap"
    assert "ran" in graph.requests[-1]["body"]["text"]["body"]


def test_graph_errors_are_retried_then_recorded(meta, model, graph, engine):
    graph.statuses = [500, 429, 200]
    model.push(plan("eventually"))
    post(meta, payload(text("hola")))
    assert [r["status"] for r in graph.requests] == [500, 429, 200]
    graph.statuses = [400]
    model.push(plan("rejected"))
    post(meta, payload(text("hola", wamid="wamid.2")))
    assert rows(engine, "audit_events", kind="reply_failed")
    assert rows(engine, "dedupe_messages", message_id="wamid.2")[0]["status"] == "done"


def test_malformed_payload_is_422(meta):
    assert post(meta, {"entry": "nope"}).status_code == 422


TOKEN = "twilio-auth-token"


def twilio_post(client, params, url="http://testserver/provider/twilio", token=TOKEN):
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post("/provider/twilio", data=params, headers={"X-Twilio-Signature": signature})


def test_twilio_signed_message_gets_twiml(make_client, model):
    client = make_client(twilio_auth_token=TOKEN)
    model.push(plan("Hi <there> & welcome"))
    params = {"MessageSid": "SM1", "From": "whatsapp:+14155550100", "To": "whatsapp:+1", "Body": "hello"}
    response = twilio_post(client, params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    assert "<Message>Hi &lt;there&gt; &amp; welcome</Message>" in response.text
    again = twilio_post(client, params)
    assert again.text == response.text and len(model.calls) == 1


def test_twilio_refusals(make_client, model, engine):
    assert make_client().post("/provider/twilio", data={"Body": "x"}).status_code == 503
    client = make_client(twilio_auth_token=TOKEN)
    params = {"MessageSid": "SM2", "From": "+1", "Body": "hello"}
    assert twilio_post(client, params, token="wrong").status_code == 401
    assert twilio_post(client, params, url="https://elsewhere.example/provider/twilio").status_code == 401
    assert client.post("/provider/twilio", data=params).status_code == 401
    assert twilio_post(client, {"MessageSid": "SM3", "From": "+1"}).status_code == 422
    assert model.calls == [] and len(rows(engine, "audit_events", kind="signature_rejected")) == 3


def test_twilio_behind_a_proxy_uses_the_public_url(make_client, model):
    client = make_client(twilio_auth_token=TOKEN, public_base_url="https://bot.example.com")
    model.push(plan("ok"))
    params = {"MessageSid": "SM9", "From": "+1", "Body": "hello"}
    assert twilio_post(client, params, url="https://bot.example.com/provider/twilio").status_code == 200


@pytest.fixture
def twilio_api():
    # Twilio's Messages API: form posts, 201 with the message's sid.
    with RecordingServer(ok=201, answer=lambda status: {"sid": "SMsent"} if status == 201 else {"code": 20003}) as server:
        yield server


def slow(reply: str, seconds: float):
    """A scripted model step that takes `seconds` to answer."""
    def step(messages, schema):
        time.sleep(seconds)
        return json.dumps(plan(reply))
    return step


def _until(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)
    return condition()


def test_twilio_slow_turn_gets_empty_twiml_then_the_messages_api(make_client, model, twilio_api, engine):
    client = make_client(twilio_auth_token=TOKEN, twilio_account_sid="AC123", twilio_api_url=twilio_api.url,
                         twilio_reply_within_sec=0.5)
    model.push(slow("Sorry for the wait", 1.5))
    params = {"MessageSid": "SMslow", "From": "whatsapp:+14155550100", "To": "whatsapp:+14155559999",
              "Body": "hello"}
    started = time.monotonic()
    response = twilio_post(client, params)
    assert time.monotonic() - started < 1.4  # answered before the model was done
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    assert "<Response></Response>" in response.text and "<Message>" not in response.text
    assert twilio_api.requests == []  # not yet: the model is still thinking

    assert _until(lambda: len(twilio_api.requests) == 1)
    [sent] = twilio_api.requests
    assert sent["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert sent["headers"]["Authorization"] == "Basic " + base64.b64encode(f"AC123:{TOKEN}".encode()).decode()
    assert sent["body"] == {"To": "whatsapp:+14155550100", "From": "whatsapp:+14155559999",
                            "Body": "Sorry for the wait"}
    assert _until(lambda: rows(engine, "audit_events", kind="reply_sent"))
    [row] = rows(engine, "dedupe_messages")
    assert row["status"] == "done" and row["response"]["reply"] == "Sorry for the wait"

    again = twilio_post(client, params)  # Twilio delivers it again: answered once, not twice
    assert again.status_code == 200 and "<Message>" not in again.text
    assert client.app.state.runtime.deliveries.drain(10)
    assert len(model.calls) == 1 and len(twilio_api.requests) == 1


def test_twilio_fast_turn_is_answered_in_the_twiml_only(make_client, model, twilio_api):
    client = make_client(twilio_auth_token=TOKEN, twilio_account_sid="AC123", twilio_api_url=twilio_api.url,
                         twilio_reply_within_sec=5)
    model.push(plan("quick"))
    params = {"MessageSid": "SMfast", "From": "+14155550100", "To": "+14155559999", "Body": "hello"}
    assert "<Message>quick</Message>" in twilio_post(client, params).text
    assert "<Message>quick</Message>" in twilio_post(client, params).text  # the repeat: the same answer
    assert client.app.state.runtime.deliveries.drain(10)
    assert twilio_api.requests == [] and len(model.calls) == 1


def test_twilio_late_reply_is_retried_then_recorded(make_client, model, twilio_api, engine):
    client = make_client(twilio_auth_token=TOKEN, twilio_account_sid="AC123", twilio_api_url=twilio_api.url,
                         twilio_reply_within_sec=0.2)
    twilio_api.statuses = [503, 429, 201, 400]
    model.push(slow("eventually", 0.6), slow("refused", 0.6))
    twilio_post(client, {"MessageSid": "SMa", "From": "+1", "To": "+2", "Body": "one"})
    twilio_post(client, {"MessageSid": "SMb", "From": "+1", "To": "+2", "Body": "two"})
    assert client.app.state.runtime.deliveries.drain(10)
    assert [r["status"] for r in twilio_api.requests] == [503, 429, 201, 400]
    assert len(rows(engine, "audit_events", kind="reply_sent")) == 1
    [failed] = rows(engine, "audit_events", kind="reply_failed")
    assert "HTTP 400" in failed["data"]["error"]
    assert {r["status"] for r in rows(engine, "dedupe_messages")} == {"done"}


def test_twilio_late_reply_without_an_account_sid_is_said(make_client, model, engine, caplog):
    with caplog.at_level(logging.WARNING, logger="llm_planner.deliveries"):
        client = make_client(twilio_auth_token=TOKEN, twilio_reply_within_sec=0.2)
    assert "TWILIO_ACCOUNT_SID is not set" in caplog.text
    model.push(slow("nobody hears this", 0.6))
    response = twilio_post(client, {"MessageSid": "SMx", "From": "+1", "To": "+2", "Body": "hi"})
    assert response.status_code == 200 and "<Message>" not in response.text
    assert client.app.state.runtime.deliveries.drain(10)
    [failed] = rows(engine, "audit_events", kind="reply_failed")
    assert "TWILIO_ACCOUNT_SID" in failed["data"]["error"]
    assert rows(engine, "dedupe_messages")[0]["response"]["reply"] == "nobody hears this"
