"""Any OpenAI-compatible chat-completions endpoint (Groq, OpenRouter, vLLM, llama.cpp, LM Studio)."""

from __future__ import annotations

import time

import httpx

from app.llm.base import ModelNotConfigured, ModelReply, ModelUnavailable
from app.llm.retries import call_with_retries


class OpenAICompatModel:
    provider = "openai"

    def __init__(self, settings) -> None:
        self.url = (settings.openai_base_url or "").rstrip("/")
        self.model = settings.openai_model
        self.deadline = settings.llm_timeout_sec
        self.max_attempts = settings.llm_max_attempts
        headers = {"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {}
        self.client = httpx.Client(base_url=self.url or "http://unset.invalid", headers=headers)
        # Learned once: an endpoint that refuses json_schema is asked for JSON mode from then on.
        self.structured_output = True

    def _post(self, body: dict, timeout: float) -> httpx.Response:
        try:
            response = self.client.post("/chat/completions", json=body, timeout=timeout)
        except httpx.TimeoutException:
            raise ModelUnavailable(self.provider, self.url, f"no answer within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise ModelUnavailable(self.provider, self.url, f"connection failed ({type(exc).__name__})",
                                   retryable=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise ModelUnavailable(self.provider, self.url, f"HTTP {response.status_code}", retryable=True)
        return response

    def _configured(self) -> None:
        # Like Ollama without a model: the service starts and says what is missing.
        if not self.url:
            raise ModelNotConfigured("OPENAI_BASE_URL")
        if not self.model:
            raise ModelNotConfigured("OPENAI_MODEL")

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        self._configured()

        def attempt(timeout: float) -> ModelReply:
            started = time.perf_counter()
            body: dict = {"model": self.model, "messages": messages, "temperature": 0}
            if schema is not None and self.structured_output:
                body["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "PlannerOutput", "strict": False, "schema": schema}}
            elif schema is not None:
                body["response_format"] = {"type": "json_object"}
            response = self._post(body, timeout)
            if schema is not None and self.structured_output and response.status_code in (400, 422):
                # No structured output here: JSON mode, with the schema already in the prompt.
                self.structured_output = False
                body["response_format"] = {"type": "json_object"}
                response = self._post(body, timeout)
            if response.status_code >= 400:
                raise ModelUnavailable(self.provider, self.url, f"HTTP {response.status_code}: "
                                       f"{response.text[:200]}")
            try:
                data = response.json()
                text = data["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                raise ModelUnavailable(self.provider, self.url, "unreadable answer") from None
            usage = data.get("usage") or {}
            return ModelReply(text=text, model=data.get("model") or self.model,
                              latency_ms=int((time.perf_counter() - started) * 1000),
                              prompt_tokens=usage.get("prompt_tokens"),
                              output_tokens=usage.get("completion_tokens"))

        return call_with_retries(attempt, self.deadline, self.max_attempts)

    def ping(self) -> None:
        self._configured()
        try:
            response = self.client.get("/models", timeout=5)
        except httpx.HTTPError as exc:
            raise ModelUnavailable(self.provider, self.url, type(exc).__name__) from None
        if response.status_code >= 500 or response.status_code in (401, 403):
            hint = ": check OPENAI_API_KEY" if response.status_code < 500 else ""
            raise ModelUnavailable(self.provider, self.url, f"HTTP {response.status_code}{hint}")
        offered = _model_ids(response) if response.status_code == 200 else None
        if offered and self.model not in offered:  # checked only where the endpoint lists its models
            shown = ", ".join(sorted(offered)[:5]) + (", …" if len(offered) > 5 else "")
            raise ModelUnavailable(self.provider, self.url, f"model {self.model} is not offered here "
                                   f"(GET /models lists {shown}); set OPENAI_MODEL to one of them")


def _model_ids(response: httpx.Response) -> set[str] | None:
    try:
        listed = response.json()["data"]
        return {entry["id"] for entry in listed if isinstance(entry.get("id"), str)}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
