"""Whose a memory is. On the chat channels a person is their sender id, one person on all of
them (a phone number written as WhatsApp, Meta and Twilio write it is the same number); on
the web and the API a person is the session."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from app.channel import Channel


class Realm(StrEnum):
    """Which ids `who` is one of: the values are stored, so they never change."""
    CHAT = "chat"  # a sender on wa, provider, meta or twilio
    WEB = "web"    # a session of POST /agent
    API = "api"    # a session of POST /agent/run


_CHAT = frozenset({Channel.GATEWAY, Channel.STANDARD_WEBHOOK, Channel.WHATSAPP_CLOUD, Channel.TWILIO})
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,30}$")


@dataclass(frozen=True)
class Person:
    realm: Realm
    who: str


def sender_id(raw: str) -> str:
    """One spelling of a sender: Twilio's "whatsapp:+54 911…" and Meta's "54911…" are the
    number "+54911…"; any other id is kept as it is."""
    text = raw.strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:"):].strip()
    if _PHONE.match(text):
        digits = re.sub(r"\D", "", text)
        if 6 <= len(digits) <= 15:
            return "+" + digits
    return text


def person_of(channel: str, session_id: str) -> Person | None:
    """The person a message on `channel` comes from; None where there is none (a task)."""
    if channel in _CHAT:
        return Person(Realm.CHAT, sender_id(session_id)[:128])
    if channel == Channel.WEB:
        return Person(Realm.WEB, session_id[:128])
    if channel == Channel.API:
        return Person(Realm.API, session_id[:128])
    return None


def people_named(who: str) -> list[Person]:
    """Everyone an operator may mean by WHO: that session on the web or the API, or that sender."""
    return [Person(Realm.CHAT, sender_id(who)[:128]), Person(Realm.WEB, who[:128]), Person(Realm.API, who[:128])]
