"""list_dir, read_file, write_file: files inside WORKSPACE_ROOT and nowhere else."""

import difflib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from pydantic import Field

from app.tools import ToolArgs, ToolContext, ToolError, tool

MAX_ENTRIES = 500
MAX_WRITE_CHARS = 1_000_000
SNIFF_BYTES = 8192
NO_NEWLINE = "\\ No newline at end of file\n"


class ListDirArgs(ToolArgs):
    path: str = Field(".", max_length=1024, description="Folder, relative to the workspace")


class ReadFileArgs(ToolArgs):
    path: str = Field(..., min_length=1, max_length=1024, description="File, relative to the workspace")
    max_lines: int | None = Field(None, ge=1, le=1000, description="Read at most this many lines")


class WriteFileArgs(ToolArgs):
    path: str = Field(..., min_length=1, max_length=1024, description="File, relative to the workspace")
    content: str = Field(..., max_length=MAX_WRITE_CHARS, description="The whole new content")


def _existing(ctx: ToolContext, relative: str) -> Path:
    path = ctx.workspace.resolve(relative)
    if not path.exists():
        raise ToolError(f"{relative!r} does not exist")
    return path


@contextmanager
def _os_errors(relative: str):
    """What the system refuses (permissions, a name too long) is the user's to read."""
    try:
        yield
    except OSError as exc:
        raise ToolError(f"{relative!r} cannot be read ({exc.strerror or type(exc).__name__})") from None


@tool(permissions=["read"], tag="read")
def list_dir(args: ListDirArgs, ctx: ToolContext) -> dict:
    """List the entries of a folder in the workspace."""
    with _os_errors(args.path):
        folder = _existing(ctx, args.path)
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
    with _os_errors(args.path):
        path = _existing(ctx, args.path)
        if not path.is_file():
            raise ToolError(f"{args.path!r} is not a file")
        with open(path, "rb") as handle:
            if b"\x00" in handle.read(SNIFF_BYTES):
                raise ToolError(f"{args.path!r} is a binary file, not text")
        try:
            lines, truncated = _read_lines(path, args.max_lines, ctx.max_output_size)
        except UnicodeDecodeError:
            raise ToolError(f"{args.path!r} is not UTF-8 text (a binary file, or another encoding)") from None
    return {"path": ctx.workspace.relative(path), "content": "".join(lines),
            "lines": len(lines), "truncated": truncated}


def _read_lines(path: Path, max_lines: int | None, max_size: int) -> tuple[list[str], bool]:
    lines: list[str] = []
    size = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if max_lines is not None and len(lines) >= max_lines:
                return lines, True
            if size + len(line) > max_size:
                lines.append(line[: max_size - size])
                return lines, True
            lines.append(line)
            size += len(line)
    return lines, False


def _preview_write(args: WriteFileArgs, ctx: ToolContext) -> str:
    path = ctx.workspace.resolve(args.path)
    if path.is_dir():
        raise ToolError(f"{args.path!r} is a folder")
    if not path.exists():
        return f"create {args.path} ({len(args.content)} characters)"
    old = path.read_text(encoding="utf-8", errors="replace")
    diff = difflib.unified_diff(_diff_lines(old), _diff_lines(args.content),
                                fromfile=f"a/{args.path}", tofile=f"b/{args.path}")
    text = "".join(diff) or f"{args.path} unchanged"
    return text if len(text) <= 2000 else text[:2000] + "\n… (diff cut)"


def _diff_lines(text: str) -> list[str]:
    """Lines for difflib, each ending in a newline: a last line without one gets the marker
    `diff` and git print, or it would be glued to the next line of the diff."""
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()
    if last != "\n":
        lines.append(last + NO_NEWLINE)
    return lines


def _written(out: dict) -> str:
    return f"{'created' if out['created'] else 'replaced'} {out['path']} ({out['bytes']} bytes)"


@tool(permissions=["write"], tag="write", preview=_preview_write, folder_only=True, render=_written)
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


# -- make_dir, move_path, delete_path: write, and only the folder's files (none asks in a task)


class MakeDirArgs(ToolArgs):
    path: str = Field(..., min_length=1, max_length=1024, description="Folder to make, relative to the workspace")


class MovePathArgs(ToolArgs):
    src: str = Field(..., min_length=1, max_length=1024, description="File or folder to move")
    dst: str = Field(..., min_length=1, max_length=1024, description="Where to, relative to the workspace")


class DeletePathArgs(ToolArgs):
    path: str = Field(..., min_length=1, max_length=1024, description="File or folder to delete")
    recursive: bool = Field(False, description="Delete a folder that is not empty, with all it holds")


def _not_root(ctx: ToolContext, path: Path, relative: str) -> Path:
    if path == ctx.workspace.root:
        raise ToolError(f"{relative!r} is the workspace itself")
    return path


def _dir_target(args: MakeDirArgs, ctx: ToolContext) -> Path:
    path = _not_root(ctx, ctx.workspace.resolve(args.path), args.path)
    if path.exists() and not path.is_dir():
        raise ToolError(f"{args.path!r} exists and is not a folder")
    return path


def _move_targets(args: MovePathArgs, ctx: ToolContext) -> tuple[Path, Path]:
    # The link itself is moved, never where it points: resolve only the parent folders.
    src_parent = ctx.workspace.resolve(os.path.dirname(args.src.rstrip("/")) or ".")
    src = _not_root(ctx, src_parent / os.path.basename(args.src.rstrip("/")), args.src)
    if src.name in ("", ".", "..") or not os.path.lexists(src):
        raise ToolError(f"{args.src!r} does not exist")
    dst = ctx.workspace.resolve(args.dst)
    if dst.is_dir():
        dst = dst / src.name
    if os.path.lexists(dst):
        raise ToolError(f"{args.dst!r} already exists")
    if dst.is_relative_to(src):
        raise ToolError("a folder cannot be moved into itself")
    return src, dst


def _delete_target(args: DeletePathArgs, ctx: ToolContext) -> Path:
    parent = ctx.workspace.resolve(os.path.dirname(args.path.rstrip("/")) or ".")
    path = _not_root(ctx, parent / os.path.basename(args.path.rstrip("/")), args.path)
    if path.name in ("", ".", "..") or not path.is_relative_to(ctx.workspace.root):
        raise ToolError(f"{args.path!r} cannot be deleted")
    if not os.path.lexists(path):
        raise ToolError(f"{args.path!r} does not exist")
    return path


@tool(permissions=["write"], tag="write", folder_only=True,
      preview=lambda args, ctx: f"make folder {ctx.workspace.relative(_dir_target(args, ctx))}")
def make_dir(args: MakeDirArgs, ctx: ToolContext) -> dict:
    """Make a folder (and its parents) in the workspace."""
    path = _dir_target(args, ctx)
    with _os_errors(args.path):
        existed = path.is_dir()
        path.mkdir(parents=True, exist_ok=True)
    return {"path": ctx.workspace.relative(path), "created": not existed}


@tool(permissions=["write"], tag="write", folder_only=True,
      preview=lambda args, ctx: "move {} to {}".format(*map(ctx.workspace.relative, _move_targets(args, ctx))))
def move_path(args: MovePathArgs, ctx: ToolContext) -> dict:
    """Move or rename a file or folder inside the workspace."""
    src, dst = _move_targets(args, ctx)
    with _os_errors(args.src):
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
    return {"src": ctx.workspace.relative(src), "dst": ctx.workspace.relative(dst)}


@tool(permissions=["write"], tag="write", folder_only=True,
      preview=lambda args, ctx: f"delete {ctx.workspace.relative(_delete_target(args, ctx))}"
      + (" and everything in it" if args.recursive else ""))
def delete_path(args: DeletePathArgs, ctx: ToolContext) -> dict:
    """Delete a file, or a folder (`recursive` for one that is not empty), in the workspace."""
    path = _delete_target(args, ctx)
    with _os_errors(args.path):
        if path.is_dir() and not path.is_symlink():
            if args.recursive:
                shutil.rmtree(path)  # does not follow symlinks inside
            else:
                try:
                    path.rmdir()
                except OSError:
                    raise ToolError(f"{args.path!r} is a folder that is not empty: set recursive") from None
        else:
            path.unlink()
    return {"path": args.path, "deleted": True}
