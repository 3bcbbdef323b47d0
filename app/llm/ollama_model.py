"""Ollama, local or Cloud, through the official `ollama` client."""

from __future__ import annotations

import time

import httpx
import ollama

from app.llm.base import ModelNotConfigured, ModelReply, ModelUnavailable
from app.llm.retries import call_with_retries


class OllamaModel:
    provider = "ollama"

    def __init__(self, settings) -> None:
        self.url = settings.ollama_base_url
        self.model = settings.ollama_model
        self.deadline = settings.llm_timeout_sec
        self.max_attempts = settings.llm_max_attempts
        headers = {}
        if settings.ollama_api_key:  # Ollama Cloud
            headers["Authorization"] = f"Bearer {settings.ollama_api_key}"
        self._headers = headers
        self.client = ollama.Client(host=self.url, headers=headers, timeout=self.deadline)

    def _unavailable(self, reason: str, retryable: bool = False) -> ModelUnavailable:
        return ModelUnavailable(self.provider, self.url, reason, retryable)

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        if not self.model:
            raise ModelNotConfigured("OLLAMA_MODEL")
        kwargs = {"format": schema} if schema is not None else {}

        def attempt(timeout: float) -> ModelReply:
            # A retry gets only what is left of the deadline: a client of its own with that timeout.
            short = timeout < self.deadline
            client = ollama.Client(host=self.url, headers=self._headers, timeout=timeout) if short else self.client
            started = time.perf_counter()
            try:
                response = client.chat(model=self.model, messages=messages,
                                       options={"temperature": 0}, **kwargs)
            except ollama.ResponseError as exc:
                code = exc.status_code
                raise self._unavailable(f"HTTP {code}: {str(exc.error)[:200]}",
                                        retryable=code == 429 or code >= 500) from None
            except httpx.TimeoutException:
                raise self._unavailable(f"no answer within {timeout:g}s") from None
            except (ConnectionError, httpx.HTTPError) as exc:
                raise self._unavailable(f"connection failed ({type(exc).__name__})", retryable=True) from None
            except ValueError as exc:  # an answer that is not Ollama's JSON
                raise self._unavailable(f"unreadable answer ({exc})"[:200]) from None
            finally:
                if short:
                    client._client.close()
            return ModelReply(text=response.message.content or "", model=self.model,
                              latency_ms=int((time.perf_counter() - started) * 1000),
                              prompt_tokens=response.prompt_eval_count, output_tokens=response.eval_count)

        return call_with_retries(attempt, self.deadline, self.max_attempts)

    def ping(self) -> None:
        if not self.model:
            raise ModelNotConfigured("OLLAMA_MODEL")
        client = ollama.Client(host=self.url, headers=self._headers, timeout=5)
        try:
            # The raw tags: the client's typed list() drops `name`, which some servers send alone.
            response = client._client.get("/api/tags")
            response.raise_for_status()
            listed = response.json()["models"]
            names = {entry.get(key) for entry in listed for key in ("name", "model")}
        except httpx.HTTPStatusError as exc:
            raise self._unavailable(f"HTTP {exc.response.status_code}") from None
        except (ConnectionError, httpx.HTTPError) as exc:
            raise self._unavailable(type(exc).__name__) from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise self._unavailable("unreadable answer from /api/tags") from None
        finally:
            client._client.close()
        if _tagged(self.model) not in {_tagged(name) for name in names if isinstance(name, str)}:
            raise self._unavailable(f"model {self.model} is not pulled; run `ollama pull {self.model}`")


def _tagged(name: str) -> str:
    """Ollama's own reading of a name: no tag means `:latest`; `7b` and `7b-instruct` differ."""
    name = name.strip().lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
