"""Each task's own folder under WORKSPACE_ROOT/agents/{agent}/tasks/{id}/ (src/, output/,
research/ and a README.md the service keeps), and each agent's global folder. Inside a task
the file tools are rooted in its folder, so a task cannot reach another's."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from app.tools.workspace import Workspace

AGENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TASK_ID = re.compile(r"^[0-9a-f-]{36}$")
SUBFOLDERS = ("src", "output", "research")
MAX_ENTRIES = 1000


class Folders:
    def __init__(self, workspace_root: Path) -> None:
        workspace_root.mkdir(parents=True, exist_ok=True)
        self.root = workspace_root.resolve()

    @staticmethod
    def task_path(agent: str, task_id: str) -> str:
        if not (AGENT_NAME.match(agent) and TASK_ID.match(task_id)):
            raise ValueError("not an agent name or a task id")
        return f"agents/{agent}/tasks/{task_id}"

    @staticmethod
    def global_path(agent: str) -> str:
        if not AGENT_NAME.match(agent):
            raise ValueError("not an agent name")
        return f"agents/{agent}/global"

    def open(self, relative: str) -> Workspace:
        """The folder as a Workspace: every path inside it is resolved and checked."""
        return Workspace(self.root / relative)

    def make_task_folder(self, relative: str) -> Workspace:
        folder = self.open(relative)
        for name in SUBFOLDERS:
            (folder.root / name).mkdir(exist_ok=True)
        return folder

    def make_global_folder(self, relative: str) -> Workspace:
        folder = self.open(relative)
        for name in ("tools", "references"):
            (folder.root / name).mkdir(exist_ok=True)
        return folder

    def write_readme(self, relative: str, task: Any, updates: list[Any]) -> None:
        """The folder's README.md: title, description, stage and the updates so far. Written
        beside and renamed, so a reader never sees half of it."""
        lines = [f"# {task.title}", "", task.description, "",
                 f"- status: {task.status}", f"- stage: {task.stage} ({task.stage_progress} %)",
                 f"- steps: {task.steps}", "", "## Updates", ""]
        lines += [f"- {u.created_at:%Y-%m-%d %H:%M:%S} {u.update_type}: {u.content}" for u in updates]
        folder = self.root / relative
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".readme-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(tmp, folder / "README.md")


def listing(folder: Workspace, path: str) -> dict:
    """A folder's entries; ToolError (from the Workspace) for a path outside it."""
    target = folder.resolve(path)
    if not target.is_dir():
        raise FileNotFoundError(path)
    with os.scandir(target) as found:
        entries = sorted(found, key=lambda e: e.name)[:MAX_ENTRIES]
    return {"path": folder.relative(target), "entries": [
        {"name": e.name, "type": "symlink" if e.is_symlink() else "dir" if e.is_dir() else "file",
         "size": e.stat(follow_symlinks=False).st_size if e.is_file(follow_symlinks=False) else None}
        for e in entries if not e.name.startswith(".readme-")]}
