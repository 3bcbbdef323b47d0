"""The ways a message comes in, and what each can do. A closed vocabulary: the values are
what the database stores, so they never change."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    WEB = "web"            # POST /agent
    API = "api"            # POST /agent/run
    GATEWAY = "wa"         # POST /wa/agent: a WhatsApp-style gateway you run
    STANDARD_WEBHOOK = "provider"  # POST /provider/inbound
    WHATSAPP_CLOUD = "meta"  # POST /provider/meta
    TWILIO = "twilio"      # POST /provider/twilio
    TASK = "task"          # a task's steps (the session is the task's id)
    # MCP: a call from an MCP client (POST /mcp, `mcp serve`); the session is the call's own
    MCP = "mcp"

    @property
    def short_codes(self) -> bool:
        """A person types the confirmation on a phone: a short code instead of the long token."""
        return self in _PHONE

    @property
    def replies_out_of_band(self) -> bool:
        """The webhook is acknowledged at once and the answer is sent afterwards."""
        return self is Channel.WHATSAPP_CLOUD

    @property
    def answers_late(self) -> bool:
        """The webhook waits a while for the answer in its response (Twilio: about 15 s);
        an answer not ready by then is sent out of band when it is."""
        return self is Channel.TWILIO


_PHONE = frozenset({Channel.GATEWAY, Channel.STANDARD_WEBHOOK, Channel.WHATSAPP_CLOUD, Channel.TWILIO})
