"""Any OpenAI-compatible chat-completions endpoint (Groq, OpenRouter, vLLM, llama.cpp, LM Studio)."""

from __future__ import annotations

import time

import httpx

from app.llm.base import ModelNotConfigured, ModelReply, ModelUnavailable


class OpenAICompatModel:
    provider = "openai"

    def __init__(self, settings) -> None:
        self.url = (settings.openai_base_url or "").rstrip("/")
        self.model = settings.openai_model
        headers = {"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=settings.llm_timeout_sec)

    def _post(self, body: dict) -> httpx.Response:
        try:
            return self.client.post("/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise ModelUnavailable(self.provider, self.url, type(exc).__name__) from None

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        if not self.model:
            raise ModelNotConfigured("OPENAI_MODEL")
        started = time.perf_counter()
        body: dict = {"model": self.model, "messages": messages, "temperature": 0}
        if schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "PlannerOutput", "schema": schema}}
        response = self._post(body)
        if schema is not None and response.status_code == 400:
            # Endpoints without structured output still take JSON mode; the prompt has the schema.
            body["response_format"] = {"type": "json_object"}
            response = self._post(body)
        if response.status_code >= 400:
            raise ModelUnavailable(self.provider, self.url, f"HTTP {response.status_code}")
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelUnavailable(self.provider, self.url, "unreadable answer") from None
        usage = data.get("usage") or {}
        return ModelReply(text=text, model=self.model,
                          latency_ms=int((time.perf_counter() - started) * 1000),
                          prompt_tokens=usage.get("prompt_tokens"),
                          output_tokens=usage.get("completion_tokens"))

    def ping(self) -> None:
        if not self.model:
            raise ModelNotConfigured("OPENAI_MODEL")
        try:
            response = self.client.get("/models")
        except httpx.HTTPError as exc:
            raise ModelUnavailable(self.provider, self.url, type(exc).__name__) from None
        if response.status_code >= 500:
            raise ModelUnavailable(self.provider, self.url, f"HTTP {response.status_code}")
