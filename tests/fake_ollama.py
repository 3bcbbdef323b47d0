"""A small stand-in Ollama server: answers /api/chat from a script and records requests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.fake_http import LoopbackServer, send_json


class FakeOllama(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.replies: list[tuple[int, str]] = []
        self.delay = 0.0  # seconds each /api/chat answer is held back
        self.chat_started = threading.Event()
        self.responder = None  # optional: request body -> content, used when nothing is scripted
        self.tags = [{"name": "test-model", "model": "test-model"}]  # what /api/tags lists
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                outer.requests.append({"path": self.path, "headers": dict(self.headers)})
                send_json(self, 200, {"models": outer.tags})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                outer.chat_started.set()
                time.sleep(outer.delay)
                if outer.replies:
                    status, content = outer.replies.pop(0)
                elif outer.responder:
                    status, content = 200, outer.responder(body)
                else:
                    status, content = 200, '{"reply": "ok"}'
                if status != 200:
                    return send_json(self, status, {"error": content})
                answer = {"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z",
                          "message": {"role": "assistant", "content": content}, "done": True,
                          "prompt_eval_count": 120, "eval_count": 30}
                try:
                    send_json(self, 200, answer)
                except (BrokenPipeError, ConnectionResetError):  # the caller was killed meanwhile
                    pass

        self._serve(Handler)

    def reply(self, content: str | dict, status: int = 200) -> None:
        self.replies.append((status, content if isinstance(content, str) else json.dumps(content)))
