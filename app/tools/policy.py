"""POLICY_FILE: which tools each channel may use, on top of the allowlist and
BLOCKED_PERMISSIONS. A channel the file does not name may use every tool.

    [channels.wa]
    allow = ["health_check", "list_dir", "read_file"]   # only these

    [channels.provider]
    deny = ["register_customer"]                        # all but these
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from app.channel import Channel

CHANNELS = tuple(Channel)


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    allow: dict[str, frozenset[str]] = field(default_factory=dict)
    deny: dict[str, frozenset[str]] = field(default_factory=dict)

    def permits(self, channel: str, tool: str) -> bool:
        if channel in self.allow and tool not in self.allow[channel]:
            return False
        return tool not in self.deny.get(channel, frozenset())


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return Policy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"POLICY_FILE {path}: {exc}") from None
    allow, deny = {}, {}
    for channel, rules in (data.get("channels") or {}).items():
        if channel not in CHANNELS:
            raise PolicyError(f"POLICY_FILE {path}: unknown channel {channel!r}; use {', '.join(CHANNELS)}")
        if not isinstance(rules, dict) or set(rules) - {"allow", "deny"}:
            raise PolicyError(f"POLICY_FILE {path}: [channels.{channel}] takes only allow and deny lists")
        for key, target in (("allow", allow), ("deny", deny)):
            if key in rules:
                names = rules[key]
                if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                    raise PolicyError(f"POLICY_FILE {path}: channels.{channel}.{key} must be a list of tool names")
                target[channel] = frozenset(names)
    return Policy(allow, deny)
