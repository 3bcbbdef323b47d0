"""The SQL of memories. Finding them again is full-text search: MATCH … AGAINST on a
FULLTEXT index (natural language mode) on MySQL/MariaDB, an FTS5 table on SQLite; LIKE only
when the query has no word the index can take."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.memory.people import Person
from app.memory.tables import memories as m

# InnoDB leaves out words shorter than innodb_ft_min_token_size (3 by default, on MariaDB too)
# and its stopwords; the same words are left out of an FTS5 query, so that both databases
# rank by the words that say something ("garden", not "the").
MIN_INDEXED_WORD = 3
STOPWORDS = frozenset("""
    about and are com for from how that the this was what when where who will with und www
    you your yours have has had does did can could would should not but all any its our their them they
    los las una unos unas del por para con que qué como cómo son est esta este esto eso mis tus sus
    """.split())
MAX_QUERY_WORDS = 32
_WORDS = re.compile(r"\w+")
_COLUMNS = (m.c.id, m.c.realm, m.c.who, m.c.channel, m.c.text, m.c.created_at)


def _mine(person: Person):
    return sa.and_(m.c.realm == person.realm.value, m.c.who == person.who)


def add(conn: Connection, person: Person, channel: str, text: str, now: datetime) -> int:
    result = conn.execute(m.insert().values(realm=person.realm.value, who=person.who, channel=channel,
                                            text=text, created_at=now))
    return int(result.inserted_primary_key[0])


def search(conn: Connection, person: Person, query: str, limit: int, loose: bool = True) -> list[dict]:
    """`person`'s memories that share a word with `query`, the most relevant first. A query
    with no word the index takes ("on", "ok?") looks for its words anywhere in the text
    when `loose`, else finds nothing."""
    words = list(dict.fromkeys(_WORDS.findall(query)))  # each word once, in the order said
    indexed = [word for word in words if len(word) >= MIN_INDEXED_WORD and word.lower() not in STOPWORDS]
    words, indexed = words[:MAX_QUERY_WORDS], indexed[:MAX_QUERY_WORDS]
    if indexed:
        search_in = _fts5 if conn.dialect.name == "sqlite" else _fulltext
        return search_in(conn, person, indexed, limit)
    return _like(conn, person, words or [query.strip()], limit) if loose else []


def _fts5(conn: Connection, person: Person, words: list[str], limit: int) -> list[dict]:
    # Each word a quoted FTS5 string ("\w+" holds no quote), any of them: FTS5 syntax in the
    # person's text can do nothing.
    match = " OR ".join(f'"{word}"' for word in words)
    rows = conn.execute(sa.text(
        "SELECT m.id, m.realm, m.who, m.channel, m.text, m.created_at FROM memories_fts "
        "JOIN memories m ON m.id = memories_fts.rowid "
        "WHERE memories_fts MATCH :match AND m.realm = :realm AND m.who = :who "
        "ORDER BY bm25(memories_fts), m.id DESC LIMIT :limit"
    ).columns(*_COLUMNS), {"match": match, "realm": person.realm.value, "who": person.who, "limit": limit})
    return [dict(row._mapping) for row in rows]


def _fulltext(conn: Connection, person: Person, words: list[str], limit: int) -> list[dict]:
    # MATCH needs the FULLTEXT index on exactly (text); the person's own rows are then kept.
    rows = conn.execute(sa.text(
        "SELECT id, realm, who, channel, text, created_at, "
        "MATCH (text) AGAINST (:words IN NATURAL LANGUAGE MODE) AS score FROM memories "
        "WHERE realm = :realm AND who = :who AND MATCH (text) AGAINST (:words IN NATURAL LANGUAGE MODE) "
        "ORDER BY score DESC, id DESC LIMIT :limit"
    ).columns(*_COLUMNS), {"words": " ".join(words), "realm": person.realm.value, "who": person.who,
                           "limit": limit})
    return [{key: value for key, value in row._mapping.items() if key != "score"} for row in rows]


def _like(conn: Connection, person: Person, words: list[str], limit: int) -> list[dict]:
    def pattern(word: str) -> str:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"
    found = sa.or_(*(m.c.text.like(pattern(word), escape="\\") for word in words if word))
    rows = conn.execute(sa.select(*_COLUMNS).where(_mine(person), found).order_by(m.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


def of(conn: Connection, people: list[Person], memory_id: int | None = None) -> list[dict]:
    """Every memory of any of `people` (or only the one with `memory_id`), oldest first."""
    query = sa.select(*_COLUMNS).where(sa.or_(*(_mine(person) for person in people)))
    if memory_id is not None:
        query = query.where(m.c.id == memory_id)
    return [dict(row._mapping) for row in conn.execute(query.order_by(m.c.id))]


def delete(conn: Connection, people: list[Person], memory_id: int | None = None) -> int:
    """Deletes (never hides) the memories of any of `people`, or only the one with
    `memory_id` when it is theirs. How many went."""
    query = m.delete().where(sa.or_(*(_mine(person) for person in people)))
    if memory_id is not None:
        query = query.where(m.c.id == memory_id)
    return conn.execute(query).rowcount
