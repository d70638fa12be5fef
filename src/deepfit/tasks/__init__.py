"""The task axis: regression and classification, each one object that downstream code asks.

Example:
    >>> make_task("classification").name
    'classification'
"""

from __future__ import annotations

from typing import Any

from deepfit.tasks.base import Task
from deepfit.tasks.classification import ClassificationTask
from deepfit.tasks.regression import RegressionTask

TASKS: dict[str, type[Task]] = {
    RegressionTask.name: RegressionTask,
    ClassificationTask.name: ClassificationTask,
}


def make_task(name: str) -> Task:
    """A new, unfitted task by name."""
    return TASKS[name]()


def task_from_dict(document: Any) -> Task:
    """A fitted task from its JSON; ValueError when it is malformed or unknown."""
    if not isinstance(document, dict) or document.get("task") not in TASKS:
        raise ValueError("the task is missing or unknown")
    return TASKS[document["task"]].from_dict(document)


__all__ = ["TASKS", "ClassificationTask", "RegressionTask", "Task", "make_task", "task_from_dict"]
