"""remember, recall, forget: what a person asks the assistant to keep, for later sessions.
Each person's own: the sender on the chat channels, the session on the web and the API."""

from pydantic import Field

from app.tools import ToolArgs, ToolContext, ToolError, tool


class RememberArgs(ToolArgs):
    text: str = Field(..., min_length=1, max_length=1000, description="What to remember, in the person's words")


class RecallArgs(ToolArgs):
    query: str = Field(..., min_length=1, max_length=500, description="Words to look for in the memories")


class ForgetArgs(ToolArgs):
    id: int = Field(..., ge=1, description="The id of the memory to delete (recall shows it)")


def _texts(ctx: ToolContext, en: str, es: str) -> str:
    return es if ctx.language == "es" else en


def _desk(ctx: ToolContext):
    if ctx.memories is None:
        raise ToolError(_texts(ctx, "memories belong to a person in a chat: there is none here",
                               "los recuerdos son de una persona en un chat: aquí no hay ninguna"))
    return ctx.memories


def _kept(out: dict) -> str:
    return f"remembered (#{out['id']}): {out['text']}"


def _found(out: list) -> str:
    return "\n".join(f"#{item['id']} ({item['saved']}): {item['text']}" for item in out) or "nothing remembered about that"


def _gone(out: dict) -> str:
    return f"forgot #{out['id']}"


@tool(permissions=["read"], tag="read", render=_kept)
def remember(args: RememberArgs, ctx: ToolContext) -> dict:
    """Remember something the person asked to keep, for later conversations (secrets are masked)."""
    try:
        return _desk(ctx).remember(args.text)
    except ValueError:
        raise ToolError(_texts(ctx, "nothing left to remember once secrets are masked",
                               "no queda nada que recordar sin los secretos")) from None


@tool(permissions=["read"], tag="read", render=_found)
def recall(args: RecallArgs, ctx: ToolContext) -> list:
    """Look for what the person asked to remember: the memories that share words with the query."""
    return _desk(ctx).recall(args.query)


@tool(permissions=["read"], tag="read", render=_gone)
def forget(args: ForgetArgs, ctx: ToolContext) -> dict:
    """Delete one of the person's memories, by its id."""
    if not _desk(ctx).forget(args.id):
        raise ToolError(_texts(ctx, f"there is no memory #{args.id} of yours",
                               f"no tienes ningún recuerdo #{args.id}"))
    return {"id": args.id, "forgotten": True}
