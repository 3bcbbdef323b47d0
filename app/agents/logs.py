"""The agents' logs in one place: each service's output goes to LOG_DIR/agents/NAME.log,
rotating at LOG_MAX_BYTES; anyone with the admin key reads its tail."""

from __future__ import annotations

import logging
import logging.handlers
import threading
from collections import deque
from pathlib import Path
from typing import IO


def log_path(log_dir: Path, name: str) -> Path:
    return log_dir / "agents" / f"{name}.log"


class LogPump:
    """Copies a child's output, line by line, into its rotating log file."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=max(1, backups),
                                                            encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, line: str) -> None:
        self.handler.emit(logging.makeLogRecord({"msg": line.rstrip("\n"), "levelno": logging.INFO}))

    def follow(self, stream: IO[bytes]) -> threading.Thread:
        def pump() -> None:
            try:
                for raw in iter(stream.readline, b""):
                    self.write(raw.decode("utf-8", "replace"))
            except (OSError, ValueError):
                pass
            finally:
                self.handler.close()
        thread = threading.Thread(target=pump, name="agent-log", daemon=True)
        thread.start()
        return thread


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines (the rotated file's end first when the current one is short)."""
    kept: deque[str] = deque(maxlen=lines)
    for part in (path.with_name(path.name + ".1"), path):
        try:
            with part.open("r", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    kept.append(line.rstrip("\n"))
        except OSError:
            continue
    return list(kept)


def reason_from(lines: list[str]) -> str:
    """The line of a failed start that says why: the last error-looking one, else the last."""
    for line in reversed(lines):
        lowered = line.lower()
        if any(word in lowered for word in ("error", "invalid", "cannot", "refus", "traceback", "exception",
                                            "address already in use", "not ")):
            return line.strip()[:500]
    return (lines[-1].strip()[:500] if lines else "no output")
