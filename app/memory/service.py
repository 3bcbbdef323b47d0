"""Memories: kept for one person, masked before they are kept, found again by full-text
search, shown to the planner within a budget, deleted (never hidden) when forgotten."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import Engine

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.config import SECRET_SETTINGS, Settings
from app.confirmations.parsing import mask_tokens
from app.masking import mask_secret_shapes, mask_secrets
from app.memory import repository
from app.memory.people import Person, people_named, person_of
from app.store.tables import utcnow

MAX_TEXT_CHARS = 1000  # one memory
RECALL_LIMIT = 10  # what recall(query) hands back
# What the planner is shown with each message: the most relevant few, and no more text than this.
PROMPT_MEMORIES = 5
PROMPT_CHARS = 1200
_MIN_CUT = 80  # a memory cut shorter than this says nothing: it is left out instead
_MODEL_KEYS = ("ollama_api_key", "openai_api_key", "anthropic_api_key", "meta_access_token")


def configured_secrets(settings: Settings) -> list[str]:
    """The service's own keys and secrets: none of them is ever remembered."""
    values = []
    for name in (*SECRET_SETTINGS, *_MODEL_KEYS, "api_keys"):
        for part in str(getattr(settings, name, None) or "").split(","):
            values.append(part.rpartition(":")[2].strip() if name == "api_keys" else part.strip())
    return [value for value in values if len(value) >= 4]


def shown(row: dict) -> dict:
    return {"id": row["id"], "text": row["text"], "saved": row["created_at"].date().isoformat()}


class MemoryService:
    def __init__(self, engine: Engine, secrets: Iterable[str] = ()) -> None:
        self.engine = engine
        self.secrets = frozenset(secrets)

    def masked(self, text: str, hidden: Iterable[str] = ()) -> str:
        """What is kept of `text`: no known secret, no token, nothing shaped like a key."""
        text = mask_secrets(text, self.secrets | set(hidden))
        return mask_secret_shapes(mask_tokens(text)).strip()

    def of(self, channel: str, session_id: str, hidden: Iterable[str] = ()) -> PersonMemories | None:
        """The memories of whoever sends on `channel` as `session_id`; None in a task.
        `hidden`: the turn's secret values (kept by reference: later ones count too)."""
        person = person_of(channel, session_id)
        return None if person is None else PersonMemories(self, person, channel, hidden)

    def for_prompt(self, channel: str, session_id: str, message: str) -> list[dict]:
        """The few memories most relevant to `message`, within PROMPT_MEMORIES and PROMPT_CHARS;
        none for a message with no word worth searching for ("ok", "yes")."""
        person = person_of(channel, session_id)
        if person is None or not message.strip():
            return []
        with self.engine.connect() as conn:
            rows = repository.search(conn, person, message, PROMPT_MEMORIES, loose=False)
        chosen, left = [], PROMPT_CHARS
        for row in rows:
            text = row["text"]
            if len(text) > left:
                if left < _MIN_CUT:
                    break
                text = text[: left - 1] + "…"
            left -= len(text)
            chosen.append(shown({**row, "text": text}))
        return chosen

    # -- what the operator does (the CLI) --------------------------------------------------

    def listed(self, who: str, memory_id: int | None = None) -> list[dict]:
        with self.engine.connect() as conn:
            return repository.of(conn, people_named(who), memory_id)

    def forget_all(self, who: str, memory_id: int | None, by: str) -> int:
        """Deletes WHO's memories (or the one), and says so in the audit trail when any went."""
        with self.engine.begin() as conn:
            gone = repository.delete(conn, people_named(who), memory_id)
        if gone:
            record(self.engine, AuditKind.MEMORIES_FORGOTTEN, who=who, id=memory_id, memories=gone,
                   forgotten_by=by)
        return gone


class PersonMemories:
    """One person's memories, and no one else's: what the memory tools are handed."""

    def __init__(self, service: MemoryService, person: Person, channel: str, hidden: Iterable[str]) -> None:
        self.service, self.person, self.channel, self.hidden = service, person, channel, hidden

    def remember(self, text: str) -> dict:
        kept = self.service.masked(text[:MAX_TEXT_CHARS], self.hidden)
        if not kept:
            raise ValueError("nothing to remember")
        now = utcnow()
        with self.service.engine.begin() as conn:
            memory_id = repository.add(conn, self.person, self.channel, kept, now)
        return {"id": memory_id, "text": kept, "saved": now.date().isoformat()}

    def recall(self, query: str) -> list[dict]:
        with self.service.engine.connect() as conn:
            return [shown(row) for row in repository.search(conn, self.person, query, RECALL_LIMIT)]

    def forget(self, memory_id: int) -> bool:
        with self.service.engine.begin() as conn:
            return repository.delete(conn, [self.person], memory_id) > 0
