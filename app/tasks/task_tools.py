"""The two tools that exist only inside a task. They run like any tool (validated, audited);
their effect on the task is applied by the step that called them, in its transaction."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.tools import ToolArgs, ToolContext, ToolError, tool
from app.tools.registry import ToolRegistry


class UpdateTaskArgs(ToolArgs):
    stage: Literal["design", "build", "test", "review", "complete"] = Field(..., description="The stage now")
    progress: int = Field(..., ge=0, le=100, description="Progress within the stage, 0-100")
    note: str = Field("", max_length=2000, description="What was done or decided")


class FinishTaskArgs(ToolArgs):
    summary: str = Field(..., min_length=1, max_length=10000, description="What was done, for the person")
    files: list[str] = Field(default_factory=list, max_length=100,
                             description="Paths in the task folder of what was made")


@tool(permissions=["read"], tag="read")
def update_task(args: UpdateTaskArgs, ctx: ToolContext) -> dict:
    """Move the task's stage and the progress within it, with a short note."""
    return args.model_dump()


@tool(permissions=["read"], tag="read")
def finish_task(args: FinishTaskArgs, ctx: ToolContext) -> dict:
    """End the task as complete, with a summary and the files it made."""
    missing = [path for path in args.files if not ctx.workspace.resolve(path).is_file()]
    if missing:
        raise ToolError(f"not in the task folder: {', '.join(missing[:5])}")
    return args.model_dump()


TASK_TOOLS = (update_task, finish_task)
# create_task and the memory tools belong to a person in a chat; a task has no person.
CHAT_ONLY = frozenset({"create_task", "remember", "recall", "forget"})


def with_task_tools(registry: ToolRegistry) -> ToolRegistry:
    """The registry a task's steps use: every tool, and the two task-only ones."""
    tools = ToolRegistry(list(TASK_TOOLS))
    for item in registry:
        # A task does not start tasks, and has no person whose memories it could touch.
        if item.name not in tools.names() and item.name not in CHAT_ONLY:
            tools.add(item, source="registry")
    return tools
