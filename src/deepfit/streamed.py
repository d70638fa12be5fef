"""Train on a table file larger than memory: one statistics pass, then batches by piece.

What :func:`~deepfit.workflow.train_table` does for a frame, this does for a file that the
memory plan (:func:`~deepfit.data.stream.plan_memory`) says to stream:

1. the schema and the task come from the file's first rows;
2. one pass reads every row (a CSV is copied to Parquet on the way, into a temporary folder
   that is removed at the end) and keeps the statistics, a sample of the training rows, and
   the validation and test rows, which a hash of the row number chooses
   (:class:`~deepfit.data.split.HashSplitter`; at most about 100,000 rows each);
3. the network trains on the training rows a piece at a time;
4. the model is scored on the test rows beside the baselines, which are fitted on the sample.

Example:
    >>> plan = plan_memory(Path("big.parquet"), budget=1 << 30)  # doctest: +SKIP
    >>> result = train_streamed(plan, target="y")  # doctest: +SKIP
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deepfit.data.io import read_table
from deepfit.data.schema import Schema, infer_schema
from deepfit.data.split import TEST, TRAIN, VALIDATION, HashSplitter
from deepfit.data.stream import (
    MemoryPlan,
    TableFile,
    csv_types,
    head,
    is_parquet,
    parquet_copy,
    plan_memory,
    slices,
)
from deepfit.data.stream_stats import (
    SAMPLE_ROWS,
    VOCABULARY_CAP,
    StreamStatistics,
    held_out_fractions,
    rank_error,
)
from deepfit.device import resolve_device
from deepfit.errors import ConfigError, DeepfitError, DeepfitWarning
from deepfit.estimator import Estimator, estimator_for
from deepfit.estimator.streaming import StreamedData
from deepfit.evaluation.scoring import (
    MetricsBySplit,
    Parts,
    evaluate_baselines,
    evaluate_model,
    prepare_parts,
)
from deepfit.files import atomic_writer
from deepfit.memory import release_free_memory
from deepfit.tasks import make_task
from deepfit.tasks.base import Task
from deepfit.trained import TrainingResult, choose_task, split_target
from deepfit.training.callbacks import Callback
from deepfit.training.distributed import Runtime, start
from deepfit.training.state import INTERRUPTED


def agreed_plan(path: Path, budget: int | None, device: str = "auto") -> MemoryPlan:
    """:func:`~deepfit.data.stream.plan_memory`, and across processes rank 0's plan, so that
    all stream or none do (machines may have different memory free)."""
    plan = plan_memory(path, budget)
    runtime = start(resolve_device(device).type)
    return runtime.broadcast(plan) if runtime.distributed else plan


def train_streamed(
    plan: MemoryPlan,
    *,
    target: str,
    task: str | None = None,
    validation: Any = None,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    baselines: bool = True,
    resume: bool = False,
    callbacks: Sequence[Callback] | None = None,
    **params: Any,
) -> TrainingResult:
    """:func:`~deepfit.workflow.train_table` for the file of ``plan``, streamed."""
    path = plan.path
    first = head(path)
    choice = choose_task(first, target, task)
    if choice.warning:
        warnings.warn(choice.warning, DeepfitWarning, stacklevel=2)
    checker = make_task(choice.task)
    features, first_target = split_target(first, target, checker)
    schema = infer_schema(features, roles=params.get("column_roles"), target=None)
    for note in schema.notes:
        warnings.warn(note, DeepfitWarning, stacklevel=2)
    given = None if validation is None else split_target(read_table(validation), target, checker)
    fractions = held_out_fractions(
        plan.rows, 0.0 if given is not None else validation_fraction, test_fraction
    )
    statistics = StreamStatistics(
        HashSplitter(*fractions),
        seed=seed,
        target=target,
        categorical=schema.names("categorical"),
        count_labels=checker.split_labels(first_target) is not None,
        sample_rows=SAMPLE_ROWS,
    )

    def count(frame: pd.DataFrame) -> None:
        statistics.add(frame, checker.check_target(frame[target], target))

    runtime = start(resolve_device(str(params.get("device", "auto"))).type)
    if runtime.distributed and not is_parquet(path):
        raise ConfigError(
            f"training across processes reads a Parquet file's row groups, and {path.name} is "
            "a text table; convert it to Parquet once (e.g. pandas' read_csv then to_parquet, "
            "or pyarrow's CSV reader in pieces) and train on that"
        )
    with tempfile.TemporaryDirectory(prefix="deepfit-stream-") as folder:
        if runtime.is_main:
            table = _passed(runtime, path, Path(folder), first, schema, target, count)
        statistics = _shared(runtime, statistics)
        if not runtime.is_main:
            table = TableFile(path)
        release_free_memory()
        held = {part: _held_out(statistics, part, target, checker) for part in (VALIDATION, TEST)}
        data = StreamedData(
            table=table,
            schema=schema,
            target=target,
            statistics=statistics,
            head=first,
            validation=given if given is not None else held[VALIDATION],
            train_piece_rows=_train_rows(table, statistics),
        )
        model = estimator_for(choice.task)(random_state=seed, **params)
        model.fit_streamed(data, make_task(choice.task), resume=resume, callbacks=callbacks)
    if not runtime.is_main:  # rank 0 scores the model
        return TrainingResult(model=model, metrics={}, task=choice)
    sample = statistics.sample()
    parts: Parts = {"train": split_target(sample, target, checker)}
    for name, rows in (("validation", data.validation), ("test", held[TEST])):
        if rows is not None:
            parts[name] = rows
    prepared = prepare_parts(model, parts)
    metrics: MetricsBySplit = {"deepfit": evaluate_model(model, prepared)}
    if baselines and model.training_summary_["stop_reason"] != INTERRUPTED:
        metrics.update(evaluate_baselines(model, prepared, seed=seed))
    model.metrics_ = metrics
    sizes = {"train": statistics.train_rows}
    sizes |= {name: len(rows[1]) for name, rows in parts.items() if name != "train"}
    return TrainingResult(
        model=model,
        metrics=metrics,
        task=choice,
        split_sizes=sizes,
        test=held[TEST],
        notes=streamed_notes(statistics, table),
    )


def _read_once(
    path: Path,
    folder: Path,
    first: pd.DataFrame,
    schema: Schema,
    target: str,
    count: Any,
) -> TableFile:
    """The statistics pass: a Parquet file read by row group, or a CSV copied to Parquet in
    ``folder`` on the way; returns the file to train from."""
    if is_parquet(path):
        table = TableFile(path)
        for piece in table.pieces():
            count(piece)
            release_free_memory()
        return table
    text = [c.name for c in schema.columns if c.role not in ("numeric", "drop")]
    types = csv_types(first, text=text)
    if pd.api.types.is_integer_dtype(first[target]):
        types[target] = pa.int64()
    return parquet_copy(path, folder, types, count)


def _passed(runtime: Runtime, *arguments: Any) -> TableFile:
    """:func:`_read_once` in rank 0; an error it meets there reaches the other processes too
    (:func:`_shared` raises it in each)."""
    try:
        return _read_once(*arguments)
    except DeepfitError as error:
        if runtime.distributed:
            runtime.broadcast(error)
        raise


def _shared(runtime: Runtime, statistics: StreamStatistics) -> StreamStatistics:
    """Rank 0's statistics in every process (or the error rank 0 met, raised here too)."""
    if not runtime.distributed:
        return statistics
    shared = runtime.broadcast(statistics if runtime.is_main else None)
    if isinstance(shared, DeepfitError):
        raise shared
    if not isinstance(shared, StreamStatistics):
        raise ConfigError("the first process sent no statistics; see its error above")
    return shared


def _held_out(
    statistics: StreamStatistics, part: int, target: str, task: Task
) -> tuple[pd.DataFrame, np.ndarray] | None:
    rows = statistics.held_out(part)
    return None if rows is None else split_target(rows, target, task)


def _train_rows(table: TableFile, statistics: StreamStatistics) -> list[int]:
    """The training rows of each piece: the split's hash of its row numbers."""
    counts = []
    for first, rows in zip(table.starts, table.piece_rows, strict=True):
        parts = statistics.splitter.parts(np.arange(first, first + rows), seed=statistics.seed)
        counts.append(int(np.count_nonzero(parts == TRAIN)))
    return counts


def streamed_notes(statistics: StreamStatistics, table: TableFile) -> list[str]:
    """What ``train`` prints about a streamed run."""
    sample = min(statistics.sample_rows, statistics.train_rows)
    notes = [
        f"streamed {statistics.rows:,} rows in {len(table.piece_rows)} pieces; validation and "
        "test rows chosen by a hash of the row number",
        f"medians, scales and bins from a sample of {sample:,} training rows (quantile rank "
        f"error at most {rank_error(sample):.2%}); train metrics and baselines on that sample",
    ]
    if statistics.pruned:
        notes.append(
            f"columns with over {VOCABULARY_CAP:,} distinct values kept only their most "
            f"frequent categories: {', '.join(sorted(statistics.pruned))}"
        )
    return notes


def predict_streamed(
    model: Estimator,
    path: Path,
    out_path: Path | None,
    *,
    interval: float | None = None,
    with_input: bool = False,
    overwrite: bool = False,
) -> tuple[int, int]:
    """``deepfit predict`` on a file larger than memory: a slice at a time, written as it
    goes to ``out_path`` (Parquet, TSV or CSV, moved into place only when complete) or to
    standard output as CSV. Returns the rows predicted and the unseen categories met."""
    numeric = set(model.preprocessor_.schema.names("numeric"))
    types = {str(c): pa.float64() if c in numeric else pa.string() for c in head(path).columns}
    chunks = (_predicted(model, frame, interval, with_input) for frame in slices(path, types))
    if out_path is None:
        return _write_csv(chunks, sys.stdout, ",")
    if is_parquet(out_path):
        with atomic_writer(out_path, overwrite=overwrite) as handle:
            return _write_parquet(chunks, handle)
    separator = "\t" if out_path.suffix.lower() == ".tsv" else ","
    with atomic_writer(out_path, overwrite=overwrite, mode="w") as handle:
        return _write_csv(chunks, handle, separator)


def _predicted(
    model: Estimator, frame: pd.DataFrame, interval: float | None, with_input: bool
) -> tuple[pd.DataFrame, int]:
    predictions, unseen = model.prediction_frame(frame, interval=interval)
    if not with_input:
        return predictions, unseen
    table = frame.reset_index(drop=True)
    for column in predictions.columns:
        table[column] = predictions[column].to_numpy()
    return table, unseen


def _write_csv(
    chunks: Iterator[tuple[pd.DataFrame, int]], handle: IO[str], sep: str
) -> tuple[int, int]:
    rows = unseen = 0
    for table, found in chunks:
        table.to_csv(handle, index=False, sep=sep, header=rows == 0)
        rows, unseen = rows + len(table), unseen + found
    return rows, unseen


def _write_parquet(
    chunks: Iterator[tuple[pd.DataFrame, int]], handle: IO[bytes]
) -> tuple[int, int]:
    rows = unseen = 0
    writer: pq.ParquetWriter | None = None
    try:
        for table, found in chunks:
            schema = None if writer is None else writer.schema
            arrow = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(handle, arrow.schema)
            writer.write_table(arrow)
            rows, unseen = rows + len(table), unseen + found
    finally:
        if writer is not None:
            writer.close()
    return rows, unseen
