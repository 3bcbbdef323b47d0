"""The connector seam: everything the planner needs from a model, and nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class ModelReply:
    text: str
    model: str
    latency_ms: int
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    retries: int = 0


class ModelUnavailable(Exception):
    """`retryable`: a refused connection, 429 or 5xx, worth another try within the deadline."""

    def __init__(self, provider: str, url: str, reason: str, retryable: bool = False) -> None:
        super().__init__(f"{provider} at {url}: {reason}")
        self.provider, self.url, self.reason, self.retryable = provider, url, reason, retryable


class ModelNotConfigured(Exception):
    def __init__(self, setting: str) -> None:
        super().__init__(f"{setting} is not set")
        self.setting = setting


class ChatModel(Protocol):
    provider: str
    url: str

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        """One call. `schema` asks for a plan; None asks for free text."""

    def ping(self) -> None:
        """Raise ModelUnavailable or ModelNotConfigured when a plan could not be asked for."""
