"""The one tree file tools may touch. Every path is resolved before it is used."""

from __future__ import annotations

import os
from pathlib import Path

from app.tools.errors import ToolError


class Workspace:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def resolve(self, relative: str) -> Path:
        """The real path of `relative` inside the workspace, or ToolError.

        Real paths are compared, so `..`, absolute paths and symlinks that lead out are all
        refused the same way.
        """
        if "\x00" in relative:
            raise ToolError("path contains a NUL byte")
        if os.path.isabs(relative) or relative.startswith("~"):
            raise ToolError(f"path {relative!r} is outside the workspace: use a relative path")
        candidate = (self.root / relative).resolve()
        if candidate != self.root and not candidate.is_relative_to(self.root):
            raise ToolError(f"path {relative!r} is outside the workspace")
        return candidate

    def relative(self, path: Path) -> str:
        rel = path.relative_to(self.root).as_posix()
        return rel or "."
