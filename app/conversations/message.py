"""A message as a conversation receives it, whichever way it came in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class Message:
    channel: str  # an app.channel.Channel value
    session_id: str
    text: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Who the policy sees beside channel and session: the API_KEYS name the request
    # authenticated with (None: AGENT_API_KEY, another channel's key, or none) and its agent.
    key_name: str | None = None
    agent: str = "default"
