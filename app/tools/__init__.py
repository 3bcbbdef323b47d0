"""The plugin API: the one module a plugin imports.

    from app.tools import ToolArgs, ToolContext, ToolError, tool

- `tool(...)` / `BaseTool`: declare a tool (`secret_args`: arguments never stored or shown,
  which read `SECRET` wherever the call is recorded); `ToolArgs`: its argument model.
- `ToolContext`: what a tool gets besides its arguments (workspace, settings, a `Records`
  handle for the rows it keeps, the request and session ids, limits, `language`: the
  REPLY_LANGUAGE its own texts should be in).
- `ToolError`: a failure the user reads as it is.
- `run_process` / `ProcessResult`: start a process the safe way (argv only, limits).
- `load_operator` / `OperatorFileError`: what OPERATOR_FILE declares.
- `send_mail`: outgoing e-mail (SMTP, or the log while setting up).
- `TaskDesk`: what `ctx.tasks` offers in a chat (start a task, read one).
- `MemoryDesk`: what `ctx.memories` offers in a chat: the person's own memories.
- `plugin_metadata`, `BigId`, `UtcDateTime`, `utcnow`: for a plugin that keeps its own
  tables (see plugins/customers/records.py); its migrations live with the service's.
"""

from app.masking import SECRET
from app.tools.declare import BaseTool, Tool, ToolArgs, ToolContext, tool
from app.tools.errors import BadToolDeclaration, ToolError
from app.tools.handles import MemoryDesk, TaskDesk
from app.tools.mail import send_mail
from app.tools.operator_file import OperatorConfig, OperatorFileError, load_operator
from app.tools.process_runner import ProcessResult, run_process
from app.tools.records import BigId, Records, UtcDateTime, plugin_metadata, utcnow
from app.tools.workspace import Workspace

__all__ = ["BadToolDeclaration", "BaseTool", "OperatorConfig", "OperatorFileError", "ProcessResult",
           "Records", "SECRET", "TaskDesk", "Tool", "ToolArgs", "ToolContext", "ToolError", "Workspace", "load_operator",
           "run_process", "send_mail", "tool", "BigId", "UtcDateTime", "plugin_metadata", "utcnow",
           "MemoryDesk"]
