"""The TaskDesk a chat's tools get: start a task, read one. Built on the task service."""

from __future__ import annotations

from app.tasks.schemas import TaskCreate
from app.tasks.service import TaskError, Tasks


class Desk:
    def __init__(self, tasks: Tasks) -> None:
        self._tasks = tasks

    def start(self, title: str, description: str, complexity: int) -> dict:
        task = self._tasks.create(TaskCreate(title=title, description=description, complexity=complexity))
        return {"task_id": task.id, "status": task.status, "stage": task.stage, "workspace": task.workspace}

    def status(self, task_id: str) -> dict | None:
        try:
            task = self._tasks.get(task_id)
        except TaskError:
            return None
        return task.model_dump(include={"id", "title", "status", "stage", "stage_progress", "steps", "error",
                                        "result"})
