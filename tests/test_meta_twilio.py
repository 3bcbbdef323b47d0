"""The WhatsApp Cloud API webhook (against a local fake Graph API) and Twilio."""

import hashlib
import hmac
import json

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
