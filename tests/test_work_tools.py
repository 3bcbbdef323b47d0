"""make_pdf, web_search, fetch_url, github, send_email and a task's completion e-mail, each
against stand-ins on loopback (a stub web site, SearXNG, GitHub API, SMTP), never the internet."""

from __future__ import annotations

import email
import io
import json
import logging
import socket
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pypdf
import pytest

import plugins.search as search
import plugins.web as web
from app.config import Settings
from app.tasks.notify import notify_completion
from app.tools import ToolContext, ToolError, Workspace
from plugins.documents import MakePdfArgs, make_pdf
from plugins.search import WebSearchArgs, web_search
from plugins.web import FetchUrlArgs, fetch_url
from tests.fake_http import LoopbackServer, send_json
from tests.helpers import chat, free_port, plan, rows, until

KEY = {"X-API-Key": "task-key"}
GITHUB_TOKEN = "ghp_" + "T0kenForTheStubGitHubOnly" * 2


class Site(LoopbackServer):
    """A web site, a SearXNG and a GitHub API in one stub: it records every request."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, kind: str, **headers) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                outer.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                if parts.path == "/page":
                    self._send(200, b"<html><head><title>Stub page</title><style>p{color:red}</style>"
                                    b"<script>var secret=1;</script></head><body><h1>Welcome</h1>"
                                    b"<p>Hello <b>reader</b>.</p><ul><li>one</li><li>two</li></ul></body></html>",
                               "text/html; charset=utf-8")
                elif parts.path == "/redirect":
                    self._send(302, b"", "text/plain", Location=query.get("to", ["/redirect"])[0])  # bare: a loop
                elif parts.path == "/big":
                    self._send(200, b"x" * 50_000, "text/plain")
                elif parts.path == "/binary":
                    self._send(200, b"\x89PNG....", "image/png")
                elif parts.path == "/search":
                    q = query.get("q", [""])[0]
                    if query.get("format") != ["json"]:
                        self._send(403, b"forbidden", "text/plain")
                        return
                    results = [{"title": f"{q} result {n}", "url": f"https://example.org/{n}", "content": f"about {q}"}
                               for n in range(1, 31)]
                    send_json(self, 200, {"query": q, "results": results})
                else:
                    self._send(404, b"not here", "text/plain")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw or b"{}")
                outer.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body})
                if self.headers.get("Authorization") != f"Bearer {GITHUB_TOKEN}":
                    send_json(self, 401, {"message": "Bad credentials"})
                elif not self.path.startswith("/repos/acme/app/"):
                    send_json(self, 404, {"message": "Not Found"})
                elif self.path.endswith("/pulls") and body.get("head") == "nothing-new":
                    send_json(self, 422, {"message": "Validation Failed", "errors": [
                        {"resource": "PullRequest", "code": "custom", "message": "No commits between main and nothing-new"}]})
                elif self.path.endswith("/comments"):
                    send_json(self, 201, {"id": 99, "html_url": "https://github.test/acme/app/issues/3#c99",
                                          "url": "https://api.github.test/c/99"})
                else:
                    kind = "pull" if self.path.endswith("/pulls") else "issues"
                    send_json(self, 201, {"number": 7, "html_url": f"https://github.test/acme/app/{kind}/7",
                                          "url": f"https://api.github.test/repos/acme/app/{kind}/7"})

        self._serve(Handler)


@pytest.fixture
def site():
    with Site() as server:
        yield server


@pytest.fixture
def operator(tmp_path):
    """operator(text) -> the path of an OPERATOR_FILE holding `text`."""
    def write(text: str = ""):
        path = tmp_path / f"operator-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(text)
        return path
    return write


@pytest.fixture
def context(tmp_path, workspace, operator):
    """context(operator text, **settings) -> the ToolContext a tool gets (these tools keep
    nothing in the database: the tests calling them directly run once, not per backend)."""
    def build(text: str = "", **overrides) -> ToolContext:
        settings = Settings(_env_file=None, db_url=f"sqlite:///{tmp_path}/unused.db", workspace_root=workspace,
                            data_dir=tmp_path / "data", operator_file=operator(text), **overrides)
        return ToolContext(workspace=Workspace(workspace), settings=settings, records=None, request_id="r",
                           session_id="s", max_output_size=settings.max_output_size, timeout=10)
    return build


def port_of(server) -> int:
    return server.server.server_address[1]


# -- make_pdf -----------------------------------------------------------------------------

MARKDOWN = """# Findings

The **disk** is *almost* full; run `du -sh`.

## Next steps
- clean the cache
- rotate **the logs**
1. first
2. second

```
$ df -h /var
```
"""


def test_make_pdf_writes_a_real_pdf_under_output(context, workspace):
    out = make_pdf.func(MakePdfArgs(path="output/report.pdf", title="Disk report", markdown=MARKDOWN), context())
    assert out["path"] == "output/report.pdf" and out["pages"] == 1
    reader = pypdf.PdfReader(workspace / "output" / "report.pdf")
    text = "".join(page.extract_text() for page in reader.pages)
    for words in ("Disk report", "Findings", "almost", "du -sh", "Next steps", "rotate", "the logs", "2. second",
                  "$ df -h /var"):
        assert words in text, words
    assert reader.metadata.title == "Disk report"
    fonts = {str(font["/BaseFont"]) for page in reader.pages for font in page["/Resources"]["/Font"].values()}
    assert any("Bold" in f for f in fonts) and any("Oblique" in f or "Italic" in f for f in fonts)
    assert any("Mono" in f or "Courier" in f for f in fonts)  # the code block and `du -sh`


@pytest.mark.parametrize("path", ["report.pdf", "src/report.pdf", "output/report.txt", "../output/x.pdf",
                                  "/tmp/output/x.pdf", "output/../x.pdf"])
def test_make_pdf_writes_only_a_pdf_under_output(context, workspace, path):
    with pytest.raises(ToolError):
        make_pdf.func(MakePdfArgs(path=path, title="t", markdown="x"), context())
    assert not list(workspace.rglob("*.pdf"))


def test_make_pdf_asks_in_a_chat(make_client, model, engine, workspace):
    client = make_client()
    model.push(plan("Making it.", ("make_pdf", {"path": "output/a.pdf", "title": "A", "markdown": "# A"})))
    body = chat(client, "make a pdf")
    [confirmation] = body["confirmations"]
    assert "create output/a.pdf" in confirmation["preview"] and not (workspace / "output" / "a.pdf").exists()
    done = chat(client, f"confirm {confirmation['token']}")
    assert done["status"] == "success" and (workspace / "output" / "a.pdf").read_bytes().startswith(b"%PDF")


# -- fetch_url ----------------------------------------------------------------------------


def test_fetch_url_reads_an_allowed_loopback_page_as_text(context, site):
    port = port_of(site)
    ctx = context(f'[web]\nallow_hosts = ["127.0.0.1:{port}"]\n')
    out = fetch_url.func(FetchUrlArgs(url=f"http://127.0.0.1:{port}/page"), ctx)
    assert out["status"] == 200 and out["title"] == "Stub page"
    assert out["text"] == "# Welcome\n\nHello reader.\n\n- one\n- two"  # no script, no style
    big = fetch_url.func(FetchUrlArgs(url=f"http://127.0.0.1:{port}/big"), ctx)
    # Cut so that the whole result fits MAX_OUTPUT_SIZE, not cut again by the executor.
    assert big["truncated"] is True and 9000 < len(json.dumps(big)) <= ctx.max_output_size
    with pytest.raises(ToolError, match="image/png, not a text page"):
        fetch_url.func(FetchUrlArgs(url=f"http://127.0.0.1:{port}/binary"), ctx)


SPELLINGS = ["http://127.0.0.1:{port}/page", "http://localhost:{port}/page", "http://2130706433:{port}/page",
             "http://0x7f.1:{port}/page", "http://0x7f000001:{port}/page", "http://0177.0.0.1:{port}/page",
             "http://127.1:{port}/page", "http://[::1]:{port}/page", "http://[::ffff:127.0.0.1]:{port}/page",
             "http://[::ffff:7f00:1]:{port}/page", "http://0.0.0.0:{port}/page", "http://[::]:{port}/page",
             "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data",
             "http://[fe80::1]/", "http://[fc00::1]/", "http://224.0.0.1/", "http://240.0.0.1/", "http://100.64.0.1/",
             "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::1]/", "HTTP://LOCALHOST:{port}/page",
             "http://0:{port}/page", "http://127.000.000.001:{port}/page"]


def test_fetch_url_refuses_every_spelling_of_a_private_address(context, site):
    port = port_of(site)
    # 127.0.0.1 is allowed on another port, and as "intranet" by name only: neither opens these.
    ctx = context(f'[web]\nallow_hosts = ["127.0.0.1:{port + 1}", "intranet.test"]\n')
    for spelling in SPELLINGS:
        with pytest.raises(ToolError, match="fetch_url reaches only public addresses"):
            fetch_url.func(FetchUrlArgs(url=spelling.format(port=port)), ctx)
    assert site.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/", "javascript:alert(1)",
                                 "//127.0.0.1/", "http://user:pw@127.0.0.1/", "http:///nohost", "http://127.0.0.1:99999/"])
def test_fetch_url_refuses_other_schemes_and_odd_urls(context, site, url):
    with pytest.raises(ToolError):
        fetch_url.func(FetchUrlArgs(url=url), context())
    assert site.requests == []


def test_fetch_url_checks_every_redirect(context, site):
    port = port_of(site)
    with Site() as inner:  # a loopback service nobody allowed
        ctx = context(f'[web]\nallow_hosts = ["127.0.0.1:{port}"]\n')
        for target in (f"http://127.0.0.1:{port_of(inner)}/page", f"http://localhost:{port}/page",
                       "http://169.254.169.254/", "file:///etc/passwd"):
            with pytest.raises(ToolError):
                fetch_url.func(FetchUrlArgs(url=f"http://127.0.0.1:{port}/redirect?to={target}"), ctx)
        assert inner.requests == []
        # A redirect within the allowed host is followed; a loop is cut.
        out = fetch_url.func(FetchUrlArgs(url=f"http://127.0.0.1:{port}/redirect?to=/page"), ctx)
        assert out["title"] == "Stub page" and out["url"] == f"http://127.0.0.1:{port}/page"
        with pytest.raises(ToolError, match="more than 5 redirects"):
            fetch_url.func(FetchUrlArgs(url=f"http://127.0.0.1:{port}/redirect"), ctx)


def test_fetch_url_connects_to_the_address_it_checked(context, site, monkeypatch):
    """A name is resolved once, its addresses checked, and the connection made to the checked
    address with the name in Host: an answer that changes in between cannot redirect it."""
    port = port_of(site)
    answers = {"rebind.test": ["127.0.0.1"], "mixed.test": ["93.184.215.14", "127.0.0.1"],
               "intranet.test": ["127.0.0.1"]}
    calls = []
    real = socket.getaddrinfo

    def resolve(host, port_, *args, **kwargs):
        calls.append(host)
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port_)) for ip in answers[host]]
        return real(host, port_, *args, **kwargs)

    monkeypatch.setattr(web.socket, "getaddrinfo", resolve)
    ctx = context('[web]\nallow_hosts = ["intranet.test"]\n')
    for host in ("rebind.test", "mixed.test"):
        with pytest.raises(ToolError, match="loopback"):
            fetch_url.func(FetchUrlArgs(url=f"http://{host}:{port}/page"), ctx)
    assert site.requests == []
    out = fetch_url.func(FetchUrlArgs(url=f"http://intranet.test:{port}/page"), ctx)
    assert out["title"] == "Stub page" and calls.count("intranet.test") == 1
    assert site.requests[-1]["headers"]["Host"] == f"intranet.test:{port}"


def test_fetch_url_answers_in_time_when_the_name_never_resolves(context, monkeypatch):
    """A resolver that hangs does not hold the tool past its deadline (the executor's
    timeout minus a second)."""
    def hangs(*args, **kwargs):
        time.sleep(8)
        raise socket.gaierror("too late")

    monkeypatch.setattr(web.socket, "getaddrinfo", hangs)
    ctx = context()
    ctx.timeout = 3
    started = time.monotonic()
    with pytest.raises(ToolError, match="not resolved in time"):
        fetch_url.func(FetchUrlArgs(url="http://slow-dns.test/page"), ctx)
    assert time.monotonic() - started < 4


def test_fetch_url_needs_the_network_permission(make_client, site, operator):
    port = port_of(site)
    allowed = operator(f'[web]\nallow_hosts = ["127.0.0.1:{port}"]\n')
    blocked = chat(make_client(operator_file=allowed), f"/fetch_url url=http://127.0.0.1:{port}/page")
    assert blocked["tool_executions"][0]["status"] == "blocked" and site.requests == []
    body = chat(make_client(operator_file=allowed, blocked_permissions="execute"),
                f"/fetch_url url=http://127.0.0.1:{port}/page")
    [execution] = body["tool_executions"]
    assert execution["status"] == "success" and execution["output"]["title"] == "Stub page"


# -- web_search ---------------------------------------------------------------------------


def test_web_search_asks_searxng_and_caches(context, site, monkeypatch):
    ctx = context(search_url=f"http://127.0.0.1:{port_of(site)}/", rate_limit_namespace=uuid.uuid4().hex)
    first = web_search.func(WebSearchArgs(query="disk  usage", max_results=3), ctx)
    assert first["source"] == "searxng" and first["cached"] is False
    assert [r["title"] for r in first["results"]] == ["disk usage result 1", "disk usage result 2", "disk usage result 3"]
    assert first["results"][0] == {"title": "disk usage result 1", "url": "https://example.org/1",
                                   "snippet": "about disk usage"}
    [request] = site.requests
    assert parse_qs(urlsplit(request["path"]).query) == {"format": ["json"], "q": ["disk usage"]}
    again = web_search.func(WebSearchArgs(query="disk usage", max_results=3), ctx)
    assert again["cached"] is True and again["results"] == first["results"] and len(site.requests) == 1
    twenty = web_search.func(WebSearchArgs(query="many", max_results=20), ctx)
    assert len(twenty["results"]) == 20
    with pytest.raises(ValueError):
        WebSearchArgs(query="x", max_results=21)
    # No cache when SEARCH_CACHE_SEC is 0.
    uncached = context(search_url=f"http://127.0.0.1:{port_of(site)}", search_cache_sec=0,
                       rate_limit_namespace=uuid.uuid4().hex)
    for _ in range(2):
        web_search.func(WebSearchArgs(query="fresh"), uncached)
    assert len(site.requests) == 4


def test_web_search_is_rate_limited(context, site, monkeypatch):
    monkeypatch.setattr(search, "SEARCHES_PER_MINUTE", 2)
    ctx = context(search_url=f"http://127.0.0.1:{port_of(site)}", rate_limit_namespace=uuid.uuid4().hex)
    web_search.func(WebSearchArgs(query="a"), ctx)
    web_search.func(WebSearchArgs(query="b"), ctx)
    with pytest.raises(ToolError, match="too many web searches"):
        web_search.func(WebSearchArgs(query="c"), ctx)
    assert web_search.func(WebSearchArgs(query="a"), ctx)["cached"] is True  # a cached answer is free
    assert len(site.requests) == 2


def test_web_search_uses_duckduckgo_without_search_url(context, monkeypatch):
    import ddgs

    asked = []

    class FakeDDGS:  # the library's own network calls are not made in tests
        def __init__(self, timeout=None):
            asked.append(("timeout", timeout))

        def text(self, query, max_results, backend):
            asked.append((query, max_results, backend))
            return [{"title": "MariaDB", "href": "https://mariadb.org/", "body": "the database"}]

    monkeypatch.setattr(ddgs, "DDGS", FakeDDGS)
    out = web_search.func(WebSearchArgs(query="mariadb", max_results=4), context(rate_limit_namespace="ddg"))
    assert out["source"] == "duckduckgo" and asked[1] == ("mariadb", 4, "duckduckgo")
    assert out["results"] == [{"title": "MariaDB", "url": "https://mariadb.org/", "snippet": "the database"}]


def test_web_search_says_when_searxng_fails(context):
    ctx = context(search_url=f"http://127.0.0.1:{free_port()}", rate_limit_namespace=uuid.uuid4().hex)
    with pytest.raises(ToolError, match="could not be reached"):
        web_search.func(WebSearchArgs(query="x"), ctx)


# -- github -------------------------------------------------------------------------------


def test_github_creates_issues_comments_and_pull_requests(make_client, model, engine, site, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(blocked_permissions="execute", github_api_url=f"http://127.0.0.1:{port_of(site)}",
                         github_token=GITHUB_TOKEN)
    calls = [{"action": "create_issue", "repo": "acme/app", "title": "Disk full", "body": "It is."},
             {"action": "comment", "repo": "acme/app", "number": 3, "body": "Done."},
             {"action": "create_pull_request", "repo": "acme/app", "title": "Fix", "body": "Cleans up.",
              "head": "fix-disk", "base": "main"}]
    outputs = []
    for call in calls:
        model.push(plan("On GitHub.", ("github", call)))
        parked = chat(client, "do it")
        [confirmation] = parked["confirmations"]
        assert site.requests == [] or site.requests[-1]["body"] != call  # nothing before confirmation
        done = chat(client, f"confirm {confirmation['token']}")
        assert done["status"] == "success", done
        outputs.append(done["tool_executions"][0]["output"])
    assert [(r["path"], r["body"]) for r in site.requests] == [
        ("/repos/acme/app/issues", {"title": "Disk full", "body": "It is."}),
        ("/repos/acme/app/issues/3/comments", {"body": "Done."}),
        ("/repos/acme/app/pulls", {"title": "Fix", "body": "Cleans up.", "head": "fix-disk", "base": "main"})]
    for request in site.requests:
        assert request["headers"]["Authorization"] == f"Bearer {GITHUB_TOKEN}"
        assert request["headers"]["Accept"] == "application/vnd.github+json"
    assert outputs[0]["number"] == 7 and outputs[0]["html_url"].endswith("/issues/7")
    assert outputs[1]["comment_id"] == 99 and outputs[2]["html_url"].endswith("/pull/7")
    # The token is in no answer, stored row, audit event or log line.
    stored = json.dumps([rows(engine, t) for t in ("audit_events", "pending_confirmations",
                                                   "messages")], default=str)
    assert GITHUB_TOKEN not in stored and GITHUB_TOKEN not in caplog.text


def test_github_errors_are_clear(context, site):
    from plugins.github import GithubArgs, github

    base = f"http://127.0.0.1:{port_of(site)}"
    issue = GithubArgs(action="create_issue", repo="acme/app", title="t", body="b")
    with pytest.raises(ToolError, match="GITHUB_TOKEN is not set"):
        github.func(issue, context(github_api_url=base))
    with pytest.raises(ToolError, match=r"refused GITHUB_TOKEN \(401\)") as refused:
        github.func(issue, context(github_api_url=base, github_token="ghp_" + "Mistyped" * 5))
    assert "Mistyped" not in str(refused.value)
    ctx = context(github_api_url=base, github_token=GITHUB_TOKEN)
    with pytest.raises(ToolError, match=r"found no acme/other \(404\)"):
        github.func(GithubArgs(action="create_issue", repo="acme/other", title="t", body="b"), ctx)
    pull = GithubArgs(action="create_pull_request", repo="acme/app", title="t", body="b", head="nothing-new", base="main")
    with pytest.raises(ToolError, match=r"\(422\): Validation Failed; No commits between main and nothing-new"):
        github.func(pull, ctx)
    for bad in ({"action": "comment", "repo": "acme/app", "body": "x"},  # no number
                {"action": "create_issue", "repo": "../etc", "title": "t"},
                {"action": "create_issue", "repo": "acme/app", "title": "t", "head": "x"}):
        with pytest.raises(ValueError):
            GithubArgs(**bad)


# -- send_email ---------------------------------------------------------------------------


def delivered(mailbox) -> list:
    return [email.message_from_string(m) for m in mailbox.messages]


def test_send_email_to_allowed_addresses_with_attachments(make_client, model, operator, smtp, workspace):
    port, mailbox = smtp
    (workspace / "output").mkdir()
    (workspace / "output" / "notes.txt").write_text("the notes")
    client = make_client(blocked_permissions="execute", smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                         operator_file=operator('[email]\nallow = ["*@acme.com", "ops@example.org"]\n'))
    model.push(plan("Sending.", ("send_email", {"to": ["Ana@ACME.com", "ops@example.org"], "subject": "Report",
                                                "body": "See attached.", "attachments": ["output/notes.txt"]})))
    [confirmation] = chat(client, "mail it")["confirmations"]
    assert "Ana@ACME.com, ops@example.org" in confirmation["preview"] and "output/notes.txt" in confirmation["preview"]
    assert mailbox.messages == []
    done = chat(client, f"confirm {confirmation['token']}")
    assert done["status"] == "success", done
    [message] = delivered(mailbox)
    assert message["To"] == "Ana@ACME.com, ops@example.org" and message["Subject"] == "Report"
    parts = {part.get_filename(): part.get_payload(decode=True) for part in message.walk() if part.get_filename()}
    assert parts == {"notes.txt": b"the notes"}
    model.push(plan("One.", ("send_email", {"to": "ops@example.org", "subject": "Hi", "body": "x"})))
    assert chat(client, "mail one")["confirmations"]  # one address, not a list, is fine too


@pytest.mark.parametrize("section, to, attachments, says", [
    ("", ["ana@acme.com"], [], "no recipient is allowed"),
    ('[email]\nallow = ["*@acme.com"]\n', ["ana@acme.com", "eve@evil.com"], [], "eve@evil.com"),
    ('[email]\nallow = ["*@acme.com"]\n', ["eve@acme.com.evil.com"], [], "not allowed"),
    ('[email]\nallow = ["*@acme.com"]\n', ["ana@acme.com"], ["../secret.txt"], "outside the workspace"),
    ('[email]\nallow = ["*@acme.com"]\n', ["ana@acme.com"], ["/etc/passwd"], "outside the workspace"),
    ('[email]\nallow = ["*@acme.com"]\n', ["ana@acme.com"], ["output"], "not a file"),
])
def test_send_email_refusals_park_nothing_and_send_nothing(make_client, model, operator, smtp, engine, workspace,
                                                           section, to, attachments, says):
    port, mailbox = smtp
    (workspace / "output").mkdir()
    (workspace.parent / "secret.txt").write_text("secret")
    client = make_client(blocked_permissions="execute", smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                         operator_file=operator(section))
    model.push(plan("Sending.", ("send_email", {"to": to, "subject": "s", "body": "b", "attachments": attachments})))
    body = chat(client, "mail it")
    [execution] = body["tool_executions"]
    assert execution["status"] == "error" and says in execution["error"]
    assert body["confirmations"] == [] and rows(engine, "pending_confirmations") == [] and mailbox.messages == []


@pytest.mark.parametrize("to", ["a@acme.com,eve@evil.com", "a@acme.com\nBcc: eve@evil.com", "<a@acme.com>", "acme.com"])
def test_send_email_takes_one_address_per_entry(to):
    from plugins.mail import SendEmailArgs

    with pytest.raises(ValueError):
        SendEmailArgs(to=[to], subject="s", body="b")
    with pytest.raises(ValueError):
        SendEmailArgs(to=["a@acme.com"], subject="s\nBcc: eve@evil.com", body="b")


# -- a task's completion e-mail -------------------------------------------------------------


def run_task(client, model, notify: str | None = "boss@acme.com") -> dict:
    model.push(plan("Writing.", ("make_pdf", {"path": "output/report.pdf", "title": "Report", "markdown": MARKDOWN}),
                    ("write_file", {"path": "output/data.csv", "content": "a,b\n1,2\n"})),
               plan("Done.", ("finish_task", {"summary": "Wrote the report.", "files": ["output/report.pdf"]})))
    body = {"title": "Report", "description": "Write it.", "complexity": 2}
    if notify:
        body["notify_email"] = notify
    task = client.post("/api/tasks", json=body, headers=KEY).json()
    assert until(lambda: client.get(f"/api/tasks/{task['id']}", headers=KEY).json()["status"]
                 in ("complete", "failed"), 20)
    return client.get(f"/api/tasks/{task['id']}", headers=KEY).json()


def notes(client, task_id: str) -> list[dict]:
    updates = client.get(f"/api/tasks/{task_id}/updates", headers=KEY).json()["updates"]
    return [u for u in updates if u["update_type"] == "note" and "notify" in u["data"]]


def test_a_completed_task_emails_its_summary_and_output_once(tasks_client, model, smtp, engine):
    port, mailbox = smtp
    client = tasks_client(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    task = run_task(client, model)
    assert task["status"] == "complete" and task["confirmations"] == []  # make_pdf ran inside its folder
    assert until(lambda: len(notes(client, task["id"])) == 2, 10)
    # Whoever asks again (twice at once, here) finds the e-mail claimed: none is sent again.
    deps = client.app.state.runtime.task_worker.deps
    for thread in [notify_completion(deps, task["id"]) for _ in range(2)]:
        thread.join(10)
    [message] = delivered(mailbox)
    assert message["To"] == "boss@acme.com" and message["Subject"] == "Task complete: Report"
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain" and not p.get_filename())
    assert "Wrote the report." in text.get_payload(decode=True).decode()
    files = {p.get_filename(): p.get_payload(decode=True) for p in message.walk() if p.get_filename()}
    assert set(files) == {"report.pdf", "data.csv"} and files["data.csv"] == b"a,b\n1,2\n"
    assert "Findings" in pypdf.PdfReader(io.BytesIO(files["report.pdf"])).pages[0].extract_text()
    [claim, note] = notes(client, task["id"])
    assert claim["data"]["notify"] == "sending" and claim["content"] == "e-mailing the summary to boss@acme.com"
    assert note["data"]["notify"] == "sent" and note["content"] == "the summary was e-mailed to boss@acme.com"
    assert [e for e in rows(engine, "audit_events", session_id=task["id"]) if "e-mailed" in json.dumps(e["data"])]


def test_a_task_completes_when_its_email_cannot_be_sent(tasks_client, model, engine):
    client = tasks_client(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False)
    task = run_task(client, model)
    assert task["status"] == "complete" and task["result"]["summary"] == "Wrote the report."
    assert until(lambda: len(notes(client, task["id"])) == 2, 10)
    [_, note] = notes(client, task["id"])
    assert note["data"]["notify"] == "failed" and "could not be e-mailed to boss@acme.com" in note["content"]


def test_a_task_without_notify_email_sends_nothing(tasks_client, model, smtp):
    port, mailbox = smtp
    client = tasks_client(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    task = run_task(client, model, notify=None)
    assert task["status"] == "complete"
    time.sleep(0.3)
    assert mailbox.messages == [] and notes(client, task["id"]) == []
