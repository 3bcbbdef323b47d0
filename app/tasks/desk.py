"""The TaskDesk a chat's tools get: start a task, read one. Built on the task service."""

from __future__ import annotations

from app.tasks.schemas import TaskCreate
from app.tasks.service import TaskError, Tasks


class Desk:
    def __init__(self, tasks: Tasks, api_key_name: str | None = None) -> None:
        self._tasks = tasks
        self._api_key_name = api_key_name  # a task a chat starts stays under its key's rules

    def for_key(self, api_key_name: str | None) -> Desk:
        return self if api_key_name == self._api_key_name else Desk(self._tasks, api_key_name)

    def start(self, title: str, description: str, complexity: int) -> dict:
        task = self._tasks.create(TaskCreate(title=title, description=description, complexity=complexity),
                                  api_key_name=self._api_key_name)
        return {"task_id": task.id, "status": task.status, "stage": task.stage, "workspace": task.workspace}

    def status(self, task_id: str) -> dict | None:
        try:
            task = self._tasks.get(task_id)
        except TaskError:
            return None
        return task.model_dump(include={"id", "title", "status", "stage", "stage_progress", "steps", "error",
                                        "result"})
