"""What a task is: everything that differs between predicting a number and a label.

A task object is asked, never inspected: the estimator, the scoring, the report, the server
and the exporter call these methods and do not check which task they hold. It learns the
target's encoding from the training rows (:meth:`Task.fit`), and saves and loads that
as JSON (:meth:`Task.to_dict`, :func:`deepfit.tasks.task_from_dict`).

Vocabulary:

* *raw outputs*: what the network's ``forward`` gives and the loss scores (a standardised
  number, logits);
* *answers*: what the head makes of them (the number in the target's units, class
  probabilities ``[rows, classes]``); metrics and baselines work on answers;
* *predictions*: what ``predict`` returns (the number, the label).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from deepfit.evaluation.baselines import BaselineData

Predictor = Callable[[np.ndarray], np.ndarray]  # a baseline: design matrix -> answers


class Task(ABC):
    """The target's side of a model. Subclasses: regression and classification."""

    name: ClassVar[str]
    #: metrics shown to a person, in order: name -> label
    shown_metrics: ClassVar[dict[str, str]]
    #: the metric that ranks models (lower is better unless in ``higher_is_better``)
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[frozenset[str]] = frozenset()
    baseline_names: ClassVar[tuple[str, ...]]
    #: scikit-learn's scorer for permutation importance (higher is better)
    importance_scorer: ClassVar[str]
    #: what an exported graph calls its answers
    answer_name: ClassVar[str]
    #: how an ensemble's members are joined: their mean raw output, or mean probability
    member_average: ClassVar[str] = "outputs"

    @abstractmethod
    def check_target(self, y: Any, name: str = "target") -> np.ndarray:
        """The target as a 1-D array this task can learn, or a DataError saying why not."""

    def check_learnable(self, y: np.ndarray) -> None:  # noqa: B027 (optional, no-op by default)
        """Refuse, with a DataError, a whole target (before any split) this task cannot learn."""

    def learnable_rows(self, y: np.ndarray) -> np.ndarray | None:
        """Which rows of a whole target (before any split) to learn from, when some must be
        left out (a warning says which); None to keep every row."""
        return None

    def configure(self, settings: Mapping[str, Any], y: np.ndarray) -> None:
        """Take the settings that shape the target's encoding, before :meth:`fit`, and check
        the whole target ``y`` against them (no such settings here)."""
        return None

    @abstractmethod
    def fit(self, y: np.ndarray, *, every: np.ndarray | None = None) -> None:
        """Learn the target's encoding from the training rows ``y``; ``every`` holds the
        labels of all rows given to the fit (classes that the split kept out of training)."""

    @property
    @abstractmethod
    def n_outputs(self) -> int:
        """The network's output width."""

    @abstractmethod
    def encode(self, y: np.ndarray) -> torch.Tensor:
        """The target as the loss reads it (a standardised float32, int64 class codes)."""

    @abstractmethod
    def head(self) -> nn.Module:
        """A fresh head that turns raw outputs into answers."""

    @abstractmethod
    def loss_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The training loop's loss fields (``loss`` and its options) from the settings."""

    @abstractmethod
    def predictions(self, answers: np.ndarray) -> np.ndarray:
        """What ``predict`` returns for these answers."""

    @abstractmethod
    def metrics(self, y: np.ndarray, answers: np.ndarray) -> dict[str, float]:
        """Every metric the data allows, by name, for answers to rows with target ``y``."""

    @abstractmethod
    def target_values(self, y: np.ndarray) -> np.ndarray:
        """The target as the baselines learn it (numbers, or class codes)."""

    @abstractmethod
    def baselines(
        self, data: BaselineData, *, seed: int, names: tuple[str, ...] | None = None
    ) -> dict[str, Predictor]:
        """Reference models fitted on ``data``'s training rows; each predicts answers."""

    @abstractmethod
    def calibrate(self, raw: np.ndarray, y: np.ndarray, settings: Mapping[str, Any]) -> Any:
        """After training, on held-out rows: adjust the head if the task does (a
        temperature), and return the conformal calibration of intervals or sets (or None);
        ``settings`` are the fit's (its ``interval_method``, its loss's)."""

    @abstractmethod
    def calibration_from_dict(self, document: Any) -> Any:
        """A saved calibration back; ValueError when it is malformed."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """What the task learned, as JSON (with ``"task": name``)."""

    @classmethod
    @abstractmethod
    def from_dict(cls, document: dict[str, Any]) -> Task:
        """The task saved by :meth:`to_dict`; ValueError when it is malformed."""

    def answer_shape(self) -> list[str | int]:
        """The shape of the answers for a batch of ``"rows"`` rows."""
        return ["rows"] if self.n_outputs == 1 else ["rows", self.n_outputs]

    @property
    def answer_scale(self) -> float:
        """How large a typical difference between answers is (a target standard deviation;
        1 for probabilities), for tolerances."""
        return 1.0

    def focus(self, answers: np.ndarray) -> int | None:
        """Which column of the answers an explanation follows (None: the answer is a number)."""
        return None

    def explained(self, answers: np.ndarray, focus: int | np.ndarray | None) -> np.ndarray:
        """One number per row to explain: the answer, or the probability of the ``focus``
        class (one class for all rows, or one per row)."""
        return np.asarray(answers, dtype=np.float64)

    def explained_name(self, focus: int | None) -> str:
        """What :meth:`explained` gives, in words."""
        return "prediction"

    def attribution_targets(self, answers: np.ndarray) -> np.ndarray | None:
        """The answer column each row's attributions explain (None: the only one)."""
        return None

    def split_labels(self, y: np.ndarray) -> np.ndarray | None:
        """Labels to stratify splits on, or None to split by row alone."""
        return None

    def better(self, metric: str, a: float, b: float) -> bool:
        """Whether score ``a`` of ``metric`` is better than ``b``."""
        return a > b if metric in self.higher_is_better else a < b
