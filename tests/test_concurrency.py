"""TURN_CONCURRENCY bounds the turns computing at once, never the ones waiting: a slow model
or a slow tool holds no one else up, even with a single slot."""

import json
import threading

from app.tools import ToolArgs, tool
from app.tools.registry import load_registry
from tests.helpers import chat, plan

released = threading.Event()
entered = threading.Event()


class NoArgs(ToolArgs):
    pass


@tool(permissions=["read"], tag="read")
def wait_for_release(args: NoArgs, ctx) -> dict:
    """Wait until the test says so."""
    entered.set()
    return {"released": released.wait(20)}


def _in_background(client, message, session_id):
    answer = {}
    thread = threading.Thread(target=lambda: answer.update(chat(client, message, session_id=session_id)))
    thread.start()
    return thread, answer


def _second_turn_while_the_first_waits(client, model, quick_plan):
    """(the second turn's answer, given while the first was still waiting; the first's)."""
    slow, slow_answer = _in_background(client, "the slow one", "a")
    assert entered.wait(10)
    model.push(quick_plan)
    try:
        quick, quick_answer = _in_background(client, "a quick one", "b")
        quick.join(10)
        assert slow.is_alive()
    finally:
        released.set()
        slow.join(20)
    return quick_answer, slow_answer


def test_a_turn_waiting_on_the_model_holds_no_slot(make_client, model):
    client = make_client(turn_concurrency=1)
    released.clear()
    entered.clear()

    def slow_model(messages, schema):
        entered.set()
        released.wait(20)
        return json.dumps(plan("slow one"))

    model.push(slow_model)
    quick, slow = _second_turn_while_the_first_waits(client, model, plan("quick one"))
    assert quick.get("reply") == "quick one" and slow["reply"] == "slow one"


def test_a_turn_waiting_on_a_tool_holds_no_slot(make_client, model):
    registry = load_registry()
    registry.add(wait_for_release, "test")
    client = make_client(registry=registry, turn_concurrency=1)
    released.clear()
    entered.clear()
    model.push(plan("waiting", ("wait_for_release", {})))
    quick, slow = _second_turn_while_the_first_waits(client, model, plan("listed", ("list_dir", {})))
    assert quick.get("status") == "success"
    assert slow["tool_executions"][0]["output"] == {"released": True}
