"""A stand-in OpenAI-compatible server: /chat/completions from a script, requests recorded."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from tests.fake_http import LoopbackServer, send_json


class FakeOpenAI(LoopbackServer):
    path = "/v1"

    def __init__(self, supports_json_schema: bool = True) -> None:
        self.requests: list[dict] = []
        self.replies: list[tuple[int, str]] = []
        self.supports_json_schema = supports_json_schema
        self.models = ["test-model"]  # what GET /models lists
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                send_json(self, 200, {"object": "list", "data": [{"id": m, "object": "model"} for m in outer.models]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                kind = (body.get("response_format") or {}).get("type")
                if kind == "json_schema" and not outer.supports_json_schema:
                    return send_json(self, 400, {"error": {"message": "response_format json_schema unsupported"}})
                status, content = outer.replies.pop(0) if outer.replies else (200, '{"reply": "ok"}')
                if status != 200:
                    return send_json(self, status, {"error": {"message": content}})
                send_json(self, 200, {"id": "chatcmpl-1", "model": body.get("model"), "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 200, "completion_tokens": 40, "total_tokens": 240}})

        self._serve(Handler)

    def reply(self, content: str | dict, status: int = 200) -> None:
        self.replies.append((status, content if isinstance(content, str) else json.dumps(content)))
