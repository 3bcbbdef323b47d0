"""POLICY_FILE: which tools a request may use, on top of the allowlist and
BLOCKED_PERMISSIONS. Rules name a channel, a key (API_KEYS), an agent or a session:

    [channels.wa]
    allow = ["health_check", "list_dir", "read_file"]   # only these

    [keys.ci-bot]
    deny = ["write_file"]                               # all but these

    [sessions."+5491122334455"]
    allow = ["list_dir"]
    hours = "02:00-05:00"            # server local time (TZ); may wrap midnight
    until = "2026-12-31T23:59:00Z"   # a naive time is server local time

Every rule that matches a request must permit a tool. A rule outside its `until` or
`hours` permits nothing. Nothing named by no rule is restricted by this file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Iterable

from app.channel import Channel

CHANNELS = tuple(Channel)
DEFAULT_AGENT = "default"
RULE_FIELDS = {"allow", "deny", "until", "hours"}


class PolicyError(ValueError):
    pass


class Subject(StrEnum):
    """What a rule names: the table of the file it sits in."""
    CHANNEL = "channels"
    KEY = "keys"
    AGENT = "agents"
    SESSION = "sessions"


@dataclass(frozen=True)
class Caller:
    """Who asks for a tool: every rule naming one of these applies."""
    channel: str
    session: str | None = None
    key: str | None = None  # the API_KEYS name the request authenticated with
    agent: str = DEFAULT_AGENT

    def subjects(self) -> list[tuple[Subject, str]]:
        found = [(Subject.CHANNEL, str(self.channel)), (Subject.AGENT, self.agent or DEFAULT_AGENT)]
        if self.key:
            found.append((Subject.KEY, self.key))
        if self.session:
            found.append((Subject.SESSION, self.session))
        return found


def as_caller(who: str | Caller) -> Caller:
    return who if isinstance(who, Caller) else Caller(channel=str(who))


@dataclass(frozen=True)
class Rule:
    allow: frozenset[str] | None = None  # None: no allow list, every tool not denied
    deny: frozenset[str] = frozenset()
    until: datetime | None = None  # aware
    hours: tuple[time, time] | None = None  # [start, end) in server local time

    def in_force(self, now: datetime) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.hours is not None:
            start, end = self.hours
            moment = now.astimezone().time().replace(tzinfo=None)
            inside = start <= moment < end if start < end else (moment >= start or moment < end)
            if not inside:
                return False
        return True

    def permits(self, tool: str, now: datetime) -> bool:
        if not self.in_force(now) or tool in self.deny:
            return False
        return self.allow is None or tool in self.allow

    def granted(self, tool: str) -> Rule:
        """Lift `tool` from deny; add it to allow when there is one."""
        allow = self.allow | {tool} if self.allow is not None else None
        return replace(self, allow=allow, deny=self.deny - {tool})

    def revoked(self, tool: str) -> Rule:
        """Take `tool` out of allow when there is one, else deny it."""
        if self.allow is not None:
            return replace(self, allow=self.allow - {tool})
        return replace(self, deny=self.deny | {tool})

    def describe(self) -> dict:
        shown: dict = {}
        if self.allow is not None:
            shown["allow"] = sorted(self.allow)
        if self.deny:
            shown["deny"] = sorted(self.deny)
        if self.until is not None:
            shown["until"] = self.until.isoformat()
        if self.hours is not None:
            shown["hours"] = f"{self.hours[0]:%H:%M}-{self.hours[1]:%H:%M}"
        return shown


@dataclass(frozen=True)
class Change:
    """One `policy grant`/`revoke`, as kept in the database."""
    action: str  # "grant" | "revoke"
    subject: Subject
    name: str
    tool: str


@dataclass(frozen=True)
class Policy:
    rules: dict[tuple[Subject, str], Rule] = field(default_factory=dict)

    def current(self) -> Policy:  # a fixed policy is its own current one (see PolicySource)
        return self

    def matching(self, who: str | Caller) -> list[Rule]:
        return [self.rules[s] for s in as_caller(who).subjects() if s in self.rules]

    def refusing(self, who: str | Caller, tool: str, now: datetime | None = None) -> tuple[Subject, str] | None:
        """The first matching rule that does not permit `tool`, or None when all do."""
        now = now or datetime.now().astimezone()
        for subject in as_caller(who).subjects():
            rule = self.rules.get(subject)
            if rule is not None and not rule.permits(tool, now):
                return subject
        return None

    def permits(self, who: str | Caller, tool: str, now: datetime | None = None) -> bool:
        return self.refusing(who, tool, now) is None

    def with_changes(self, changes: Iterable[Change]) -> Policy:
        rules = dict(self.rules)
        for change in changes:
            rule = rules.get((change.subject, change.name), Rule())
            rules[(change.subject, change.name)] = (rule.granted(change.tool) if change.action == "grant"
                                                    else rule.revoked(change.tool))
        return Policy(rules)

    def tool_names(self) -> Iterable[tuple[str, str]]:
        """(where, tool) for every tool a rule names: to warn of names no tool has."""
        for (subject, name), rule in sorted(self.rules.items()):
            for kind, names in (("allow", rule.allow or ()), ("deny", rule.deny)):
                for tool in sorted(names):
                    yield f"{subject}.{name}.{kind}", tool


def _names(path: Path, where: str, value) -> frozenset[str]:
    if not (isinstance(value, list) and all(isinstance(n, str) for n in value)):
        raise PolicyError(f"POLICY_FILE {path}: {where} must be a list of tool names")
    return frozenset(value)


def _until(path: Path, where: str, value) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime):  # a bare date is refused: which end of the day?
        raise PolicyError(f"POLICY_FILE {path}: {where}.until must be a date and time, e.g. "
                          f'"2026-12-31T23:59:00Z"')
    return value if value.tzinfo else value.astimezone()  # naive: server local time


def _hours(path: Path, where: str, value) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
    except (AttributeError, ValueError):
        start = end = None
    if start is None or start == end or start.tzinfo or end.tzinfo:
        raise PolicyError(f'POLICY_FILE {path}: {where}.hours must read "HH:MM-HH:MM" with two different '
                          f'times, e.g. "22:00-06:00"')
    return start, end


def _rule(path: Path, where: str, body) -> Rule:
    if not isinstance(body, dict) or set(body) - RULE_FIELDS:
        raise PolicyError(f"POLICY_FILE {path}: [{where}] takes only allow and deny lists, until and hours")
    return Rule(allow=_names(path, f"{where}.allow", body["allow"]) if "allow" in body else None,
                deny=_names(path, f"{where}.deny", body["deny"]) if "deny" in body else frozenset(),
                until=_until(path, where, body["until"]) if "until" in body else None,
                hours=_hours(path, where, body["hours"]) if "hours" in body else None)


def parse_policy(text: str, path: Path) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"POLICY_FILE {path}: {exc}") from None
    unknown = set(data) - {s.value for s in Subject}
    if unknown:
        raise PolicyError(f"POLICY_FILE {path}: unknown table(s) {sorted(unknown)}; use "
                          f"{', '.join(s.value for s in Subject)}")
    rules = {}
    for subject in Subject:
        section = data.get(subject.value) or {}
        if not isinstance(section, dict):
            raise PolicyError(f"POLICY_FILE {path}: {subject} must be a table of rules")
        for name, body in section.items():
            if subject is Subject.CHANNEL and name not in CHANNELS:
                raise PolicyError(f"POLICY_FILE {path}: unknown channel {name!r}; use {', '.join(CHANNELS)}")
            rules[(subject, name)] = _rule(path, f"{subject}.{name}", body)
    return Policy(rules)


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return Policy()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"POLICY_FILE {path}: {exc}") from None
    return parse_policy(text, path)

