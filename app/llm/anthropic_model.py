"""Anthropic's Messages API, through Anthropic's own client. The plan is asked for in words
(the schema is in the system prompt) and checked by the same guard as every other model;
the client's own retries are off, so 429, 5xx and 529 (overloaded) go through the same
bounded retries and deadline as the other connectors."""

from __future__ import annotations

import time

import anthropic

from app.llm.base import ModelNotConfigured, ModelReply, ModelUnavailable
from app.llm.retries import call_with_retries

DEFAULT_URL = "https://api.anthropic.com"
JSON_ONLY = "\n\nAnswer with the one JSON object only: no prose, no code fences."


class AnthropicModel:
    provider = "anthropic"

    def __init__(self, settings) -> None:
        self.url = (settings.anthropic_base_url or DEFAULT_URL).rstrip("/")
        self.model = settings.anthropic_model
        self.api_key = settings.anthropic_api_key
        self.max_tokens = settings.anthropic_max_tokens
        self.deadline = settings.llm_timeout_sec
        self.max_attempts = settings.llm_max_attempts
        self.client = anthropic.Anthropic(api_key=self.api_key or "unset", base_url=self.url,
                                          timeout=self.deadline, max_retries=0)

    def _configured(self) -> None:
        if not self.api_key:
            raise ModelNotConfigured("ANTHROPIC_API_KEY")
        if not self.model:
            raise ModelNotConfigured("ANTHROPIC_MODEL")

    def _unavailable(self, reason: str, retryable: bool = False) -> ModelUnavailable:
        return ModelUnavailable(self.provider, self.url, reason, retryable)

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        self._configured()
        # Anthropic takes the system prompt apart from the turns.
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"]
        if schema is not None:
            system += JSON_ONLY

        def attempt(timeout: float) -> ModelReply:
            started = time.perf_counter()
            try:
                response = self.client.with_options(timeout=timeout).messages.create(
                    model=self.model, max_tokens=self.max_tokens, system=system, messages=turns)
            except anthropic.APITimeoutError:
                raise self._unavailable(f"no answer within {timeout:g}s") from None
            except anthropic.APIConnectionError as exc:
                raise self._unavailable(f"connection failed ({type(exc).__name__})", retryable=True) from None
            except anthropic.APIStatusError as exc:
                code = exc.status_code
                raise self._unavailable(f"HTTP {code}: {str(exc.message)[:200]}",
                                        retryable=code == 429 or code >= 500) from None
            except anthropic.APIResponseValidationError:
                raise self._unavailable("unreadable answer") from None
            text = "".join(block.text for block in response.content if getattr(block, "type", "") == "text")
            usage = response.usage
            return ModelReply(text=text, model=response.model or self.model,
                              latency_ms=int((time.perf_counter() - started) * 1000),
                              prompt_tokens=getattr(usage, "input_tokens", None),
                              output_tokens=getattr(usage, "output_tokens", None))

        return call_with_retries(attempt, self.deadline, self.max_attempts)

    def ping(self) -> None:
        self._configured()
        try:
            self.client.with_options(timeout=5).models.list(limit=1)
        except anthropic.APIStatusError as exc:
            raise self._unavailable(f"HTTP {exc.status_code}") from None
        except anthropic.APIError as exc:
            raise self._unavailable(type(exc).__name__) from None
