"""The operator console in a real headless Chromium (Debian's, driven by Playwright's Python
package): sign in, approve and reject from chats and tasks, two operators racing one
approval, a task's progress bar moving live, stored HTML shown as text, a phone's width.

The screenshots in docs/ come from here: they are taken every run (into a temporary
folder) and copied to docs/ when UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.config import Settings
from app.llm.scripted import ScriptedModel
from app.main import create_app
from app.runtime import Runtime
from app.store.db import create_db_engine
from app.store.migrate import upgrade
from tests.helpers import TEST_SECRET, free_port, plan, rows, until

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DOCS = Path(__file__).resolve().parent.parent / "docs"
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ALICE, BOB = ("alice", "alice-key-0001"), ("bob", "bob-key-0002")
TASK_KEY = {"X-API-Key": "browser-task-key"}
pytestmark = pytest.mark.slow  # a real Chromium process

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the dev group installs it
    sync_playwright = None


def _need_browser() -> None:
    missing = ("the playwright package is not installed" if sync_playwright is None
               else None if CHROMIUM.exists() else f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if missing:
        if IN_CI:
            pytest.fail(missing + " (CI=true: a skipped browser test is a failure)")
        pytest.skip(missing)


class Script:
    """The model's answers by what it is asked about: chats and tasks run side by side, so
    one queue would hand a chat's plan to a task. A callable answer may wait."""

    def __init__(self) -> None:
        self.answers: dict[str, list] = {}
        self.lock = threading.Lock()

    def add(self, marker: str, *answers) -> None:
        with self.lock:
            self.answers.setdefault(marker, []).extend(answers)

    def __call__(self, messages, schema) -> str:
        text = json.dumps(messages)
        with self.lock:
            marker = next((m for m in self.answers if m in text and self.answers[m]), None)
            answer = self.answers[marker].pop(0) if marker else plan("Nothing scripted for that.")
        answer = answer() if callable(answer) else answer
        return json.dumps(answer)


class Server:
    def __init__(self, app, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        assert until(lambda: self.server.started, 20), "the server did not start"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _need_browser()
    root = tmp_path_factory.mktemp("console-browser")
    url = f"sqlite:///{root}/agent.db"
    upgrade(url)
    settings = Settings(_env_file=None, db_url=url, workspace_root=root / "workspace", data_dir=root / "data",
                        confirm_secret=TEST_SECRET, ollama_model="test-model", rate_limit_enabled=False,
                        operators=",".join(":".join(o) for o in (ALICE, BOB)), agent_api_key=TASK_KEY["X-API-Key"],
                        task_workers=2, task_poll_sec=0.2, task_lease_sec=10)
    script = Script()
    runtime = Runtime(settings, engine=create_db_engine(url), model=ScriptedModel(script, repeat_last=True))
    with Server(create_app(settings, runtime=runtime), free_port()) as server:
        server.script, server.runtime, server.workspace = script, runtime, settings.workspace_root
        server.http = httpx.Client(base_url=server.url, timeout=30)
        yield server
        server.http.close()


@pytest.fixture(scope="module")
def browser(site):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        for shot in folder.glob("*.png"):
            shutil.copy(shot, DOCS / shot.name)


def operator_page(browser, site, who, width=1280, height=860):
    context = browser.new_context(base_url=site.url, viewport={"width": width, "height": height})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/console/approvals")
    assert "/console/login" in page.url  # no session: the sign-in page
    page.get_by_label("Operator").fill(who[0])
    page.get_by_label("Key").fill(who[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pending approvals")
    return page


def chat(site, text: str, session_id: str) -> dict:
    answer = site.http.post("/agent", json={"message": text, "session_id": session_id}, headers=TASK_KEY)
    assert answer.status_code == 200, answer.text
    return answer.json()


def create_task(site, title: str, marker: str) -> str:
    answer = site.http.post("/api/tasks", headers=TASK_KEY,
                            json={"title": title, "description": f"{marker}: do it.", "complexity": 2})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def task_status(site, task_id: str) -> str:
    return site.http.get(f"/api/tasks/{task_id}", headers=TASK_KEY).json()["status"]


def approval(page, tool: str, where: str):
    return page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=tool)).filter(has_text=where)


def test_sign_in_approve_and_reject_from_chats_and_a_task(browser, site, shots):
    site.script.add("write a.txt", plan("Writing a.txt.", ("write_file", {"path": "a.txt", "content": "one"})))
    site.script.add("write b.txt", plan("Writing b.txt.", ("write_file", {"path": "b.txt", "content": "two"})))
    site.script.add("REGISTER-TASK",
                    plan("Registering.", ("register_customer", {"name": "Ana", "email": "ana@example.com"})),
                    plan("Done.", ("finish_task", {"summary": "Registered Ana.", "files": []})))
    chat(site, "please write a.txt", "web-a")
    chat(site, "please write b.txt", "web-b")
    task_id = create_task(site, "Register Ana", "REGISTER-TASK")
    assert until(lambda: task_status(site, task_id) == "awaiting_confirmation", 20)

    alice = operator_page(browser, site, ALICE)
    expect(alice.get_by_role("heading", name="register_customer")).to_be_visible()
    expect(alice.get_by_role("button", name="Log out")).to_be_visible()
    alice.screenshot(path=shots / "console-approvals.png", full_page=True)

    first = approval(alice, "write_file", "web-a")
    first.get_by_label("Reason").fill("asked for in the chat")
    first.get_by_role("button", name="Approve").click()
    expect(alice.get_by_role("status")).to_contain_text("Approved write_file (confirmation 1): it ran.")
    assert (site.workspace / "a.txt").read_text() == "one"

    approval(alice, "write_file", "web-b").get_by_role("button", name="Reject").click()
    expect(alice.get_by_role("status")).to_contain_text("Rejected write_file")
    assert not (site.workspace / "b.txt").exists()

    approval(alice, "register_customer", "Register Ana").get_by_role("button", name="Approve").click()
    expect(alice.get_by_role("status")).to_contain_text("the task runs it next")
    assert until(lambda: task_status(site, task_id) == "complete", 20)
    events = rows(site.runtime.engine, "audit_events")
    approved = [e["data"] for e in events if e["kind"] == "confirmation_approved"]
    assert sorted(e["tool"] for e in approved) == ["register_customer", "write_file"]
    assert all(e["approved_by"] == "alice" for e in approved)
    assert [e["data"]["reason"] for e in events if e["kind"] == "confirmation_approved"
            and e["data"].get("reason")] == ["asked for in the chat"]
    assert [e["data"]["rejected_by"] for e in events if e["kind"] == "confirmation_rejected"] == ["alice"]
    alice.context.close()


def test_two_operators_approving_at_once_run_it_once(browser, site):
    site.script.add("write race.txt", plan("Writing.", ("write_file", {"path": "race.txt", "content": "r"})))
    alice, bob = operator_page(browser, site, ALICE), operator_page(browser, site, BOB)
    chat(site, "please write race.txt", "web-race")
    for page in (alice, bob):  # the list updates itself: the new call appears without a reload
        expect(approval(page, "write_file", "web-race")).to_be_visible(timeout=6000)
    buttons = [approval(page, "write_file", "web-race").get_by_role("button", name="Approve")
               for page in (alice, bob)]
    # Both forms are sent before either answer comes back.
    for button in buttons:
        button.evaluate("b => b.form.requestSubmit(b)")
    outcomes = []
    for page in (alice, bob):
        flash = page.locator(".flash")
        expect(flash).to_be_visible()
        outcomes.append(flash.inner_text())
    assert sum("it ran" in text for text in outcomes) == 1, outcomes
    assert sum("already taken by" in text for text in outcomes) == 1, outcomes
    runs = [e for e in rows(site.runtime.engine, "audit_events") if e["kind"] == "tool_execution"
            and e["data"].get("tool") == "write_file" and e["data"]["args"].get("path") == "race.txt"]
    assert len(runs) == 1
    alice.context.close(), bob.context.close()


def test_a_tasks_progress_bar_moves_live(browser, site, shots):
    gates = [threading.Event(), threading.Event()]

    def after(gate, answer):
        return lambda: gate.wait(30) and answer
    site.script.add("PROGRESS-TASK",
                    plan("Designing.", ("update_task", {"stage": "design", "progress": 30, "note": "outlined"})),
                    after(gates[0], plan("Building.", ("update_task", {"stage": "build", "progress": 70,
                                                                       "note": "half built"}))),
                    after(gates[1], plan("Done.", ("finish_task", {"summary": "Built it.", "files": []}))))
    page = operator_page(browser, site, ALICE)
    task_id = create_task(site, "Quarterly report", "PROGRESS-TASK")
    page.goto("/console/tasks")
    bar = page.get_by_role("progressbar", name="Progress of Quarterly report")
    expect(bar).to_have_attribute("aria-valuenow", "30", timeout=10000)
    page.screenshot(path=shots / "console-tasks.png", full_page=True)
    gates[0].set()
    expect(bar).to_have_attribute("aria-valuenow", "70", timeout=10000)  # no reload: the board polls
    expect(page.get_by_role("region", name="build")).to_contain_text("Quarterly report")
    gates[1].set()
    page.get_by_role("link", name="Quarterly report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Task: Quarterly report")
    assert until(lambda: task_status(site, task_id) == "complete", 20)
    expect(page.get_by_text("Built it.")).to_be_visible(timeout=6000)
    page.screenshot(path=shots / "console-task.png", full_page=True)
    page.goto("/console")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    page.screenshot(path=shots / "console-overview.png", full_page=True)
    page.context.close()


def test_stored_html_is_text_and_pages_fit_a_phone(browser, site):
    (site.workspace / "evil.html").write_text(EVIL)
    site.script.add("EVIL-CHAT", plan(EVIL, ("read_file", {"path": "evil.html"})))
    site.script.add("EVIL-TASK", plan("Paused.", ("update_task", {"stage": "design", "progress": 5, "note": EVIL})),
                    plan("Done.", ("finish_task", {"summary": EVIL, "files": []})))
    chat(site, f"EVIL-CHAT {EVIL}", "evil-session")
    task_id = create_task(site, EVIL, "EVIL-TASK")
    page = operator_page(browser, site, ALICE, width=390, height=844)  # a phone
    for url in ("/console/conversations/web/evil-session", "/console/tasks", f"/console/tasks/{task_id}",
                "/console/audit?session=evil-session", "/console", "/console/approvals", "/console/agents"):
        page.goto(url)
        page.wait_for_timeout(150)
        assert page.dialogs == [], url
        assert page.locator("main img, main script").count() == 0, url
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), url
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.goto("/console/conversations/web/evil-session")
    expect(page.get_by_text(EVIL, exact=False).first).to_be_visible()
    assert page.get_by_text("<script>alert(", exact=False).count() >= 3  # the message, the answer, the output
    page.goto(f"/console/tasks/{task_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Task: {EVIL}")
    assert page.dialogs == []
    page.context.close()
