"""A recording HTTP server on loopback: answers each POST with the next scripted status."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1, started and stopped by `with`."""

    path = ""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.block_on_close = False  # a handler held back on purpose must not hold up the test
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_json(handler: BaseHTTPRequestHandler, status: int, payload) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class RecordingServer(LoopbackServer):
    """Records each POST (its path, headers and body: JSON, or a form as a dict) and answers
    with the next of `statuses`, else `ok`; `answer(status)` is the JSON body sent back."""

    def __init__(self, ok: int = 200, answer=None) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        answer = answer or (lambda status: {"messages": [{"id": "wamid.sent"}]} if status == 200 else {"error": {}})
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                status = outer.statuses.pop(0) if outer.statuses else ok
                form = "form-urlencoded" in (self.headers.get("Content-Type") or "")
                body = dict(parse_qsl(raw.decode())) if form else json.loads(raw or b"{}")
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                       "status": status})
                send_json(self, status, answer(status))

        self._serve(Handler)
