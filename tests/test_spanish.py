"""REPLY_LANGUAGE=es: every text the service writes itself is in Spanish, in tú (no voseo)."""

import json
import re

from app.conversations.texts import TEXTS
from app.tools.messages import TEXTS as TOOL_TEXTS
from plugins.customers.words import TEXTS as CUSTOMER_TEXTS
from tests.helpers import chat, plan

# Whole English words and phrases the service's own texts used; none may reach a Spanish user.
ENGLISH = ["not allowed", "allowlist", "invalid arguments", "failed", "tool call", "needs permission",
           "forbids", "Field required", "Extra inputs", "should be", "less than", "confirmation",
           "Nothing was run", "create customer", "already exists", "was refused", "timed out",
           "internal error", "Confirmed", "To run it", "reply", "expires", "e-mail", "wrong code",
           "channel", "budget", "the", "and", "is", "was", "with", "run"]
VOSEO = ["respondé", "pedilo", "reformulá", "usá", "enviá", "escribí", "definí", "confirmá", "cancelá",
         "tenés", "podés", "querés", "mandá"]

SLOW_PLUGIN = '''
import time
from app.tools import ToolArgs, tool


class NoArgs(ToolArgs):
    pass


@tool(timeout=0.2)
def slow(args: NoArgs, ctx) -> dict:
    """Sleep too long."""
    time.sleep(1)
    return {}


@tool()
def broken(args: NoArgs, ctx) -> dict:
    """Fail without saying why."""
    raise RuntimeError("the English details of a bug")
'''


def english_in(body: dict) -> list[str]:
    texts = [body["reply"], body["error"] or ""]
    texts += [e["error"] or "" for e in body["tool_executions"]]
    texts += [c["preview"] for c in body["confirmations"]]
    text = "\n".join(texts)
    for c in body["confirmations"]:
        text = text.replace(c["token"], "")
    for e in body["tool_executions"]:  # tool and argument names are names, not words
        text = text.replace(e["tool_name"], "")
    return [word for word in ENGLISH if re.search(rf"(?<![\w/_]){re.escape(word)}(?![\w_=])", text)]


def test_a_spanish_user_meets_no_english(make_client, model, tmp_path, workspace):
    plugins = tmp_path / "es_plugins"
    plugins.mkdir()
    (plugins / "slowness.py").write_text(SLOW_PLUGIN)
    policy = tmp_path / "policy.toml"
    policy.write_text('[channels.web]\ndeny = ["list_dir"]\n')
    client = make_client(reply_language="es", plugins_dir=plugins, policy_file=policy, max_tool_timeout=5)
    bodies = []

    model.push(plan("Hecho.", ("rm_rf", {}), ("list_dir", {}), ("http_get", {"api": "x"}),
                    ("read_file", {"path": "a.txt", "max_lines": 5000, "colour": "red"}),
                    ("register_customer", {"name": "   ", "email": "ana@example.com"}),
                    ("slow", {}), ("broken", {})))
    refused = chat(client, "haz de todo")
    bodies.append(refused)
    errors = [e["error"] for e in refused["tool_executions"]]
    assert refused["status"] == "tool_error" and refused["error"] == "7 llamada(s) a herramientas fallaron"
    assert "no está permitida" in errors[0] and "canal web" in errors[1] and "BLOCKED_PERMISSIONS" in errors[2]
    assert "menor o igual que 1000" in errors[3] and "argumento desconocido" in errors[3]
    assert "se agotó el tiempo" in errors[5] and "error interno en broken (RuntimeError)" == errors[6]

    model.push(plan("Lo registro.", ("register_customer", {"name": "Ana", "email": "ana@example.com"})))
    parked = chat(client, "registra a Ana")
    bodies.append(parked)
    assert "crear el cliente Ana" in parked["confirmations"][0]["preview"]
    assert "responde: confirmar" in parked["reply"]
    token = parked["confirmations"][0]["token"]
    bodies.append(chat(client, f"confirmar {token}"))
    bodies.append(chat(client, f"confirmar {token}"))  # used already
    bodies.append(chat(client, "confirmar 1234.abcd.efgh"))  # not valid
    bodies.append(chat(client, "confirmar"))  # nothing waiting

    model.push(plan("Otra vez.", ("register_customer", {"name": "Ana", "email": "ana@example.com"}),
                    ("write_file", {"path": "n.txt", "content": "x"})))
    twice = chat(client, "registra a Ana otra vez y escribe n.txt")
    bodies.append(twice)
    bodies.append(chat(client, "confirmar"))  # two waiting: which one?
    failed = chat(client, f"confirmar {twice['confirmations'][0]['token']}")
    bodies.append(failed)
    assert "ya existe un cliente con el correo ana@example.com" in failed["reply"]

    for body in bodies:
        assert english_in(body) == [], (english_in(body), json.dumps(body, ensure_ascii=False))


def test_no_voseo_in_any_spanish_text():
    spanish = list(TEXTS["es"].values()) + list(TOOL_TEXTS["es"].values()) + list(CUSTOMER_TEXTS["es"].values())
    found = [word for word in VOSEO for text in spanish if re.search(rf"\b{word}\b", text, re.IGNORECASE)]
    assert found == []
    assert set(TEXTS["es"]) == set(TEXTS["en"]) and set(TOOL_TEXTS["es"]) == set(TOOL_TEXTS["en"])
    assert set(CUSTOMER_TEXTS["es"]) == set(CUSTOMER_TEXTS["en"])
