"""list_dir, read_file, write_file: files inside WORKSPACE_ROOT and nowhere else."""

import difflib
import os
import tempfile

from pydantic import Field

from app.tools import ToolArgs, ToolContext, ToolError, tool

MAX_ENTRIES = 500
MAX_WRITE_CHARS = 1_000_000


class ListDirArgs(ToolArgs):
    path: str = Field(".", max_length=1024, description="Folder, relative to the workspace")


class ReadFileArgs(ToolArgs):
    path: str = Field(..., min_length=1, max_length=1024, description="File, relative to the workspace")
    max_lines: int | None = Field(None, ge=1, le=1000, description="Read at most this many lines")


class WriteFileArgs(ToolArgs):
    path: str = Field(..., min_length=1, max_length=1024, description="File, relative to the workspace")
    content: str = Field(..., max_length=MAX_WRITE_CHARS, description="The whole new content")


@tool(permissions=["read"], tag="read")
def list_dir(args: ListDirArgs, ctx: ToolContext) -> dict:
    """List the entries of a folder in the workspace."""
    folder = ctx.workspace.resolve(args.path)
    if not folder.is_dir():
        raise ToolError(f"{args.path!r} is not a folder")
    with os.scandir(folder) as found:
        listed = sorted(found, key=lambda e: e.name)
    entries = []
    for entry in listed[:MAX_ENTRIES]:
        kind = "symlink" if entry.is_symlink() else "dir" if entry.is_dir() else "file"
        size = entry.stat(follow_symlinks=False).st_size if kind == "file" else None
        entries.append({"name": entry.name, "type": kind, "size": size})
    total = len(listed)
    return {"path": ctx.workspace.relative(folder), "entries": entries, "count": total,
            "truncated": total > MAX_ENTRIES}


@tool(permissions=["read"], tag="read")
def read_file(args: ReadFileArgs, ctx: ToolContext) -> dict:
    """Read a text file in the workspace, optionally only its first lines."""
    path = ctx.workspace.resolve(args.path)
    if not path.is_file():
        raise ToolError(f"{args.path!r} is not a file")
    lines: list[str] = []
    size = 0
    truncated = False
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if args.max_lines is not None and len(lines) >= args.max_lines:
                truncated = True
                break
            if size + len(line) > ctx.max_output_size:
                lines.append(line[: ctx.max_output_size - size])
                truncated = True
                break
            lines.append(line)
            size += len(line)
    return {"path": ctx.workspace.relative(path), "content": "".join(lines),
            "lines": len(lines), "truncated": truncated}


def _preview_write(args: WriteFileArgs, ctx: ToolContext) -> str:
    path = ctx.workspace.resolve(args.path)
    if path.is_dir():
        raise ToolError(f"{args.path!r} is a folder")
    if not path.exists():
        return f"create {args.path} ({len(args.content)} characters)"
    old = path.read_text(encoding="utf-8", errors="replace")
    diff = difflib.unified_diff(old.splitlines(keepends=True), args.content.splitlines(keepends=True),
                                fromfile=f"a/{args.path}", tofile=f"b/{args.path}")
    text = "".join(diff) or f"{args.path} unchanged"
    return text if len(text) <= 2000 else text[:2000] + "\n… (diff cut)"


@tool(permissions=["write"], tag="write", preview=_preview_write, folder_only=True)
def write_file(args: WriteFileArgs, ctx: ToolContext) -> dict:
    """Create or replace a text file in the workspace (asks for confirmation first)."""
    path = ctx.workspace.resolve(args.path)
    if path.is_dir():
        raise ToolError(f"{args.path!r} is a folder")
    ctx.workspace.resolve(os.path.relpath(path.parent, ctx.workspace.root))
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    # Write beside the target and rename, so a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".write-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(args.content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {"path": ctx.workspace.relative(path), "bytes": len(args.content.encode()),
            "created": not existed}
