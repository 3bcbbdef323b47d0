"""A stand-in OpenAI-compatible server: /chat/completions from a script, requests recorded."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, supports_json_schema: bool = True) -> None:
        self.requests: list[dict] = []
        self.replies: list[tuple[int, str]] = []
        self.supports_json_schema = supports_json_schema
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send(200, {"data": [{"id": "test-model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                kind = (body.get("response_format") or {}).get("type")
                if kind == "json_schema" and not outer.supports_json_schema:
                    return self._send(400, {"error": {"message": "response_format json_schema unsupported"}})
                status, content = outer.replies.pop(0) if outer.replies else (200, '{"reply": "ok"}')
                if status != 200:
                    return self._send(status, {"error": {"message": content}})
                self._send(200, {"id": "chatcmpl-1", "model": body.get("model"), "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 200, "completion_tokens": 40, "total_tokens": 240}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply(self, content: str | dict, status: int = 200) -> None:
        self.replies.append((status, content if isinstance(content, str) else json.dumps(content)))

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
