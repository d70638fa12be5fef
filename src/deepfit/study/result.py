"""What a study found: per factor, every run and the summary over seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from deepfit.study.table import markdown_table


@dataclass
class FactorResult:
    """One factor: its values, every run (``runs``: one row per value and seed) and the
    summary (``summary``: one row per value, ``<metric>_mean`` and ``<metric>_std``), with
    the metrics of ``task`` (``"regression"`` or ``"classification"``)."""

    name: str
    values: list[Any]
    runs: pd.DataFrame
    summary: pd.DataFrame
    task: str

    @property
    def markdown(self) -> str:
        return markdown_table(self.name, self.summary, task=self.task)


@dataclass
class StudyResult:
    """Every factor's result, the task, the seeds, the held settings and the files written.

    ``task_line`` says which task ran and why (inferred from the target, or as asked).
    """

    target: str
    task: str
    seeds: list[int]
    held: dict[str, Any]
    command: str = ""
    task_line: str = ""
    factors: dict[str, FactorResult] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
