"""A stand-in Anthropic Messages API: /v1/messages from a script, requests recorded."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from tests.fake_http import LoopbackServer, send_json


class FakeAnthropic(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.replies: list[tuple[int, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append({"path": self.path, "headers": dict(self.headers)})
                send_json(self, 200, {"data": [{"type": "model", "id": "claude-test", "display_name": "Test",
                                                "created_at": "2026-01-01T00:00:00Z"}],
                                      "has_more": False, "first_id": "claude-test", "last_id": "claude-test"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, content = outer.replies.pop(0) if outer.replies else (200, '{"reply": "ok"}')
                if status != 200:
                    kind = "overloaded_error" if status == 529 else "rate_limit_error" if status == 429 else "api_error"
                    return send_json(self, status, {"type": "error", "error": {"type": kind, "message": content}})
                send_json(self, 200, {"id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"),
                                      "content": [{"type": "text", "text": content}], "stop_reason": "end_turn",
                                      "stop_sequence": None, "usage": {"input_tokens": 300, "output_tokens": 50}})

        self._serve(Handler)

    def reply(self, content: str | dict, status: int = 200) -> None:
        self.replies.append((status, content if isinstance(content, str) else json.dumps(content)))
