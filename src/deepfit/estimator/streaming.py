"""``fit`` on a table streamed from disk: statistics from one pass, batches by piece.

:func:`fit_streamed` is :func:`~deepfit.estimator.fitting.fit_model` for data that does not
fit in memory. What differs: the schema comes from the file's first rows, the preprocessing
from the pass's sample and exact counts (:class:`~deepfit.data.stream_stats.StreamStatistics`),
and the training rows come a piece at a time (:class:`~deepfit.training.streaming.StreamingSource`).
The validation rows are in memory, so early stopping, calibration and intervals work as they
do in memory; so do the time limit, checkpoints and resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.schema import Schema
from deepfit.data.split import TRAIN
from deepfit.data.stream import TableFile
from deepfit.data.stream_stats import StreamStatistics, rank_error
from deepfit.device import resolve_device
from deepfit.errors import ConfigError, DataError
from deepfit.estimator.auto import DataShape, resolve
from deepfit.estimator.finetune import check_same_columns
from deepfit.estimator.fitting import (
    Fitted,
    Parts,
    check_combinations,
    load_base,
    note_constant_target,
    train_run,
)
from deepfit.estimator.inputs import MIN_TRAIN_ROWS
from deepfit.estimator.params import ARCHITECTURE, check_params
from deepfit.estimator.resume import saved_checkpoint, seed_for
from deepfit.estimator.training import Run
from deepfit.kinds.table import streamed_source, training_source
from deepfit.tasks.base import Task
from deepfit.training.callbacks import Callback


@dataclass
class StreamedData:
    """A table file after its statistics pass: what :func:`fit_streamed` trains on."""

    table: TableFile
    schema: Schema
    target: str
    statistics: StreamStatistics
    head: pd.DataFrame  # the file's first rows: the feature names, in order
    validation: tuple[pd.DataFrame, np.ndarray] | None
    train_piece_rows: list[int]  # the training rows of each piece

    def training_rows(self, rows: np.ndarray) -> np.ndarray:
        """Which of the row numbers ``rows`` train."""
        statistics = self.statistics
        return np.asarray(statistics.splitter.parts(rows, seed=statistics.seed) == TRAIN)


def fit_streamed(
    estimator: BaseEstimator,
    task_name: str,
    data: StreamedData,
    task: Task,
    *,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
) -> Fitted:
    """Fit ``estimator``'s settings on the streamed ``data``; ``task`` is a fresh task object,
    fitted here to the sample's target (or replaced by the base model's when fine-tuning)."""
    params = estimator.get_params(deep=False)
    check_params(params, task_name)
    check_combinations(params, resume=resume, callbacks=callbacks)
    _refuse_in_memory_only(params)
    features = data.head.drop(columns=[data.target])
    validate_data(estimator, features, reset=True, skip_check_array=True)
    sample = data.statistics.sample()
    if len(sample) < MIN_TRAIN_ROWS:
        raise DataError(
            f"{len(sample)} training row(s) are too few to train on; provide at least "
            f"{MIN_TRAIN_ROWS} rows"
        )
    sample_X, sample_y = sample.drop(columns=[data.target]), sample[data.target]
    has_numeric = any(c.role in ("numeric", "boolean", "datetime") for c in data.schema.columns)
    base = load_base(params, task_name)
    resolved = resolve(params, DataShape(data.statistics.train_rows, has_numeric), task_name)
    settings = resolved.settings
    snapshot = saved_checkpoint(settings["checkpoint_dir"]) if resume else None
    seed = seed_for(settings["random_state"], snapshot)
    train_target = task.check_target(sample_y, data.target)
    note_constant_target(train_target, data.target)  # of the sample: up to 250,000 rows
    if base is None:
        preprocessor = fit_preprocessor(data, sample_X, settings)
        labels = np.asarray(list(data.statistics.labels), dtype=object)
        task.configure(settings, train_target)
        task.fit(train_target, every=labels if len(labels) else None)
    else:
        settings |= {key: base.settings[key] for key in ARCHITECTURE}
        task, preprocessor = base.task, base.preprocessor
        check_same_columns(sample_X, preprocessor.schema, settings["column_roles"], "init_from")
    device = resolve_device(settings["device"])
    validation = data.validation if settings["patience"] else None
    val_data = None
    if validation is not None:
        encoded = task.encode(validation[1])
        val_data = training_source(preprocessor, validation[0], encoded, device)
    run = Run(
        settings=settings,
        task=task,
        preprocessor=preprocessor,
        train_data=streamed_source(
            preprocessor,
            data.table,
            data.train_piece_rows,
            target=data.target,
            keep=data.training_rows,
            encode=lambda values: task.encode(task.check_target(values, data.target)),
            sample=(sample_X, task.encode(train_target)),
            device=device,
        ),
        val_data=val_data,
        seed=seed,
        batch_size=int(settings["batch_size"]),
        callbacks=callbacks,
        base=None if base is None else base.network,
        snapshot=snapshot,
    )
    parts = Parts(
        sample_X,
        train_target,
        None if validation is None else validation[0],
        None if validation is None else validation[1],
    )
    fitted = train_run(run, parts, data.target, params, resolved.chosen)
    fitted.summary["streamed"] = streamed_summary(data)
    return fitted


def fit_preprocessor(
    data: StreamedData, sample: pd.DataFrame, settings: dict[str, Any]
) -> TabularPreprocessor:
    """The preprocessor fitted on the sample, with the pass's exact vocabularies and missing
    values (a rare category or a rare missing value the sample missed still counts)."""
    statistics = data.statistics
    preprocessor = TabularPreprocessor(
        data.schema, min_category_count=int(settings["min_category_count"])
    ).fit(sample)
    for name in preprocessor.categorical_names:
        preprocessor.vocabularies[name] = statistics.vocabulary(
            name, preprocessor.min_category_count
        )
    sources = _numeric_sources(preprocessor)
    preprocessor.missing_in_training = [
        seen or statistics.missing[source] > 0
        for seen, source in zip(preprocessor.missing_in_training, sources, strict=True)
    ]
    return preprocessor


def _numeric_sources(preprocessor: TabularPreprocessor) -> list[str]:
    """The column each numeric input comes from (a date gives several)."""
    sources: list[str] = []
    for column in preprocessor.schema.columns:
        if column.role in ("numeric", "boolean"):
            sources.append(column.name)
        elif column.role == "datetime":
            sources.extend([column.name] * len(preprocessor.date_parts.get(column.name, [])))
    return sources


def streamed_summary(data: StreamedData) -> dict[str, Any]:
    """What the model file records about the streamed run."""
    statistics = data.statistics
    sample_rows = min(statistics.sample_rows, statistics.train_rows)
    return {
        "pieces": len(data.table.piece_rows),
        "rows": statistics.rows,
        "sample_rows": sample_rows,
        "quantile_rank_error": round(rank_error(sample_rows), 5),
        "pruned_vocabularies": sorted(statistics.pruned),
    }


def _refuse_in_memory_only(params: dict[str, Any]) -> None:
    if params["bootstrap"]:
        raise ConfigError(
            "bootstrap resamples rows held in memory; drop bootstrap (--bootstrap), or give "
            "a larger --memory-budget so that the data is read into memory"
        )
