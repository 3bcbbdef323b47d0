"""`llm-planner eval`: the real command against a stand-in Ollama that plans from a script."""

import json
import subprocess
from pathlib import Path

import pytest

from app.planner.evals import Case, score
from app.planner.output import PlannerOutput
from tests.fake_ollama import FakeOllama
from tests.helpers import CLI, ROOT, cli_env, plan

SUITE = Path(ROOT) / "evals" / "base_tools.toml"


def test_scoring_rules():
    case = Case(id="x", input="x", tools=["read_file"], args={"read_file": {"path": "logs/a.log", "max_lines": 5}})
    good = PlannerOutput.model_validate(plan("", ("read_file", {"path": "./logs/a.log", "max_lines": 5})))
    wrong_args = PlannerOutput.model_validate(plan("", ("read_file", {"path": "logs/b.log", "max_lines": 5})))
    extra_tool = PlannerOutput.model_validate(plan("", ("read_file", {"path": "logs/a.log", "max_lines": 5}),
                                                   ("list_dir", {})))
    assert score(case, good) == (True, True)
    assert score(case, wrong_args) == (True, False)
    assert score(case, extra_tool) == (False, False)
    assert score(case, None) == (False, False)


@pytest.mark.slow
def test_eval_command_reports_per_case_and_in_total(tmp_path):
    import tomllib

    cases = tomllib.loads(SUITE.read_text())["case"]
    by_input = {case["input"]: case for case in cases}
    assert len(cases) >= 30 and {c["lang"] for c in cases} == {"en", "es"}
    seen_prose = set()

    def responder(body):
        last = body["messages"][-1]["content"]
        case = next(c for text, c in by_input.items() if last.endswith(text))
        if case["id"] == "greeting-en" and case["id"] not in seen_prose:
            seen_prose.add(case["id"])
            return "Hello! I am your assistant."  # prose first: valid only after a retry
        if case["id"] == "customer-en":
            return json.dumps(plan("", ("list_dir", {})))  # wrong tool
        calls = [(tool, dict(case.get("args", {}).get(tool, {}))) for tool in case.get("tools", [])]
        if case["id"] == "read-log-en":
            calls = [("read_file", {"path": "logs/other.log"})]  # right tool, wrong argument
        return json.dumps(plan("ok", *calls))

    report = tmp_path / "report.json"
    with FakeOllama() as ollama:
        ollama.responder = responder
        out = subprocess.run(CLI + ["eval", str(SUITE), "--json", str(report)], cwd=tmp_path,
                             env=cli_env(OLLAMA_BASE_URL=ollama.url, OLLAMA_MODEL="test-model"),
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(report.read_text())
    results = {c["id"]: c for c in data["cases"]}
    n = len(cases)
    assert data["summary"]["cases"] == n
    assert results["greeting-en"]["valid_first_time"] is False and results["greeting-en"]["valid"] is True
    assert results["greeting-en"]["attempts"] == 2
    assert results["customer-en"]["right_tools"] is False
    assert results["read-log-en"]["right_tools"] is True and results["read-log-en"]["right_args"] is False
    assert data["summary"]["valid"] == 1.0
    assert data["summary"]["valid_first_time"] == round((n - 1) / n, 3)
    assert data["summary"]["right_args"] == round((n - 2) / n, 3)
    assert "greeting-en" in out.stdout and f"{n} cases:" in out.stdout and "right arguments" in out.stdout


@pytest.mark.slow
def test_eval_with_model_down_says_so(tmp_path):
    out = subprocess.run(CLI + ["eval", str(SUITE), "--format", "json"], cwd=tmp_path,
                         env=cli_env(OLLAMA_BASE_URL="http://127.0.0.1:9", OLLAMA_MODEL="m", LLM_MAX_ATTEMPTS="1"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "connection failed" in json.loads(out.stdout)["cases"][0]["error"]


def _offered_tools(tmp_path, **env) -> set[str]:
    """Run a one-case suite; the tool names the model was shown in its system prompt."""
    suite = tmp_path / "suite.toml"
    suite.write_text('[[case]]\nid = "one"\ninput = "what is in logs?"\ntools = ["list_dir"]\n')
    with FakeOllama() as ollama:
        ollama.responder = lambda body: json.dumps(plan("ok", ("list_dir", {})))
        out = subprocess.run(CLI + ["eval", str(suite)], cwd=tmp_path, capture_output=True, text=True,
                             timeout=120, env=cli_env(OLLAMA_BASE_URL=ollama.url, OLLAMA_MODEL="m", **env))
        assert out.returncode == 0, out.stderr
        [request] = [r for r in ollama.requests if r["path"] == "/api/chat"]
    system = request["body"]["messages"][0]["content"]
    return {line[2:].split(":")[0].split(" ")[0] for line in system.splitlines() if line.startswith("- ")}


@pytest.mark.slow
def test_eval_offers_only_what_serve_offers_on_the_api_channel(tmp_path):
    offered = _offered_tools(tmp_path)
    assert {"list_dir", "read_file", "write_file", "health_check"} <= offered
    assert "run_job" not in offered and "http_get" not in offered  # BLOCKED_PERMISSIONS by default

    policy = tmp_path / "policy.toml"
    policy.write_text('[channels.api]\ndeny = ["write_file"]\n')
    narrowed = _offered_tools(tmp_path, POLICY_FILE=str(policy), BLOCKED_PERMISSIONS="network")
    assert "write_file" not in narrowed and "run_job" in narrowed and "http_get" not in narrowed


@pytest.mark.slow
@pytest.mark.parametrize("content,says", [
    (None, "No such file"), ("[[case]\n", "suite.toml"), ('[[case]]\nid = "x"\nprompt = "hi"\n', "not understood"),
    ('[[case]]\nid = "x"\ninput = 3\n', "need an `input` text"), ("", "no [[case]] entries"),
])
def test_eval_with_a_bad_suite_says_what_is_wrong(tmp_path, content, says):
    suite = tmp_path / "suite.toml"
    if content is not None:
        suite.write_text(content)
    out = subprocess.run(CLI + ["eval", str(suite)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env=cli_env(OLLAMA_BASE_URL="http://127.0.0.1:9", OLLAMA_MODEL="m"))
    assert out.returncode == 1 and says in out.stderr and "Traceback" not in out.stderr, out.stderr
