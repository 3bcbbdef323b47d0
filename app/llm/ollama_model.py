"""Ollama, local or Cloud, through the official `ollama` client."""

from __future__ import annotations

import time

import httpx
import ollama

from app.llm.base import ModelNotConfigured, ModelReply, ModelUnavailable


class OllamaModel:
    provider = "ollama"

    def __init__(self, settings) -> None:
        self.url = settings.ollama_base_url
        self.model = settings.ollama_model
        headers = {}
        if settings.ollama_api_key:  # Ollama Cloud
            headers["Authorization"] = f"Bearer {settings.ollama_api_key}"
        self.client = ollama.Client(host=self.url, headers=headers, timeout=settings.llm_timeout_sec)

    def _unavailable(self, reason: str) -> ModelUnavailable:
        return ModelUnavailable(self.provider, self.url, reason)

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        if not self.model:
            raise ModelNotConfigured("OLLAMA_MODEL")
        started = time.perf_counter()
        kwargs = {"format": schema} if schema is not None else {}
        try:
            response = self.client.chat(model=self.model, messages=messages,
                                        options={"temperature": 0}, **kwargs)
        except ollama.ResponseError as exc:
            raise self._unavailable(f"HTTP {exc.status_code}: {str(exc.error)[:200]}") from None
        except (ConnectionError, httpx.HTTPError) as exc:
            raise self._unavailable(type(exc).__name__ if isinstance(exc, httpx.TimeoutException)
                                    else "connection failed") from None
        except ValueError as exc:  # an answer that is not Ollama's JSON
            raise self._unavailable(f"unreadable answer ({exc})"[:200]) from None
        return ModelReply(
            text=response.message.content or "", model=self.model,
            latency_ms=int((time.perf_counter() - started) * 1000),
            prompt_tokens=response.prompt_eval_count, output_tokens=response.eval_count)

    def ping(self) -> None:
        if not self.model:
            raise ModelNotConfigured("OLLAMA_MODEL")
        try:
            self.client.list()
        except ollama.ResponseError as exc:
            raise self._unavailable(f"HTTP {exc.status_code}") from None
        except (ConnectionError, httpx.HTTPError, ValueError) as exc:
            raise self._unavailable(type(exc).__name__) from None
