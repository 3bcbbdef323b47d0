"""create_task: start a long task from a chat, once the person confirms."""

from pydantic import Field

from app.tools import ToolArgs, ToolContext, ToolError, tool


class CreateTaskArgs(ToolArgs):
    title: str = Field(..., min_length=1, max_length=200, description="A short title")
    description: str = Field(..., min_length=1, max_length=20000,
                             description="What to do, in full: the task sees only this")
    complexity: int = Field(..., ge=1, le=10, description="1 (trivial) to 10 (a large project)")


def _preview(args: CreateTaskArgs, ctx: ToolContext) -> str:
    if ctx.language == "es":
        return f"iniciar la tarea «{args.title}» (complejidad {args.complexity}): {args.description[:300]}"
    return f"start the task \"{args.title}\" (complexity {args.complexity}): {args.description[:300]}"


def _started(out: dict) -> str:
    return f"task {out['task_id']} started ({out['status']}); /task {out['task_id']} shows where it stands"


@tool(permissions=["write"], tag="write", preview=_preview, render=_started)
def create_task(args: CreateTaskArgs, ctx: ToolContext) -> dict:
    """Start a long task that runs on its own (design, build, test, review); asks for confirmation."""
    if ctx.tasks is None:
        raise ToolError("tasks can be started from a chat only" if ctx.language != "es"
                        else "las tareas solo se inician desde un chat")
    return ctx.tasks.start(args.title, args.description, args.complexity)
