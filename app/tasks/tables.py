"""The tables of tasks: the task (which is also its queue entry and lease), its updates, the
journal of its steps, the calls a person answered, and the agents' workspaces."""

from __future__ import annotations

import sqlalchemy as sa

from app.store.tables import BigId, UtcDateTime, metadata

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("complexity", sa.Integer, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("stage_progress", sa.Integer, nullable=False, server_default="0"),
    sa.Column("agent", sa.String(64), nullable=True),
    sa.Column("workspace", sa.String(512), nullable=True),
    sa.Column("waiting_for", sa.String(255), nullable=True),
    sa.Column("requested_agent", sa.String(64), nullable=True),  # the `agent` asked for at creation
    sa.Column("steps", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tokens", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("running_ms", sa.BigInteger, nullable=False, server_default="0"),
    # A retry gets fresh step and time budgets: they count from here.
    sa.Column("budget_steps_from", sa.Integer, nullable=False, server_default="0"),
    sa.Column("budget_ms_from", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("notify_email", sa.String(254), nullable=True),
    # The lease: who runs it and until when. A waiting task's lease_expires_at is when its
    # confirmation expires, so the queue wakes it then to tell the model.
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires_at", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("completed_at", UtcDateTime, nullable=True),
    # dynamic permissions: the API_KEYS name it was created with, whose [keys.NAME] rule its
    # steps stay under (migration 0006)
    sa.Column("api_key_name", sa.String(64), nullable=True),
    sa.Index("ix_tasks_queue", "status", "priority", "created_at"),
    sa.Index("ix_tasks_agent", "agent", "status"),
)

task_updates = sa.Table(
    "task_updates",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(36), nullable=False),
    sa.Column("agent", sa.String(64), nullable=True),
    sa.Column("update_type", sa.String(32), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_task_updates_task", "task_id", "id"),
)

# One row per step: its plan and results. The unique key is what makes a step count once,
# whichever worker stores it.
task_steps = sa.Table(
    "task_steps",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(36), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("results", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("task_id", "step", name="uq_task_steps_task_step"),
)

task_calls = sa.Table(
    "task_calls",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(36), nullable=False),
    sa.Column("token_id", sa.String(64), nullable=False, unique=True),
    sa.Column("tool_name", sa.String(64), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("output", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_task_calls_task", "task_id", "status"),
)

agent_workspaces = sa.Table(
    "agent_workspaces",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("agent", sa.String(64), nullable=False),
    sa.Column("task_id", sa.String(36), nullable=True),
    sa.Column("workspace_path", sa.String(512), nullable=False, unique=True),
    sa.Column("venv_path", sa.String(512), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_accessed", UtcDateTime, nullable=False),
    sa.Index("ix_agent_workspaces_agent", "agent", "task_id"),
)
