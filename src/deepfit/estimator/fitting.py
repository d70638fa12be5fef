"""``fit``, step by step: check, split, prepare, resolve auto, train, calibrate.

The estimator fronts call :func:`fit_model` and adopt what it returns; nothing here depends
on which task is fitted: the task object is asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from deepfit.artifact import SavedModel, load_model
from deepfit.data.preprocess import PreparedFeatures, TabularPreprocessor
from deepfit.data.schema import infer_schema
from deepfit.data.split import RowSplitter, even_rows
from deepfit.data.target import skewed_positive
from deepfit.device import resolve_device
from deepfit.errors import ConfigError, DeepfitWarning
from deepfit.estimator.auto import DataShape, resolve
from deepfit.estimator.finetune import check_base, check_same_columns
from deepfit.estimator.inputs import MIN_TRAIN_ROWS, as_frame, check_lengths, target_name
from deepfit.estimator.params import ARCHITECTURE, check_params
from deepfit.estimator.prediction import answers, raw_outputs
from deepfit.estimator.resume import saved_checkpoint, seed_for
from deepfit.estimator.served import served_members
from deepfit.estimator.training import Run, summary, train_members, train_quantiles
from deepfit.evaluation.intervals import QuantileCalibration
from deepfit.kinds.table import training_source
from deepfit.models.ensemble import EnsembleNetwork
from deepfit.models.network import TabularNetwork
from deepfit.monitor.reference import MAX_SAMPLE, Reference, build_reference
from deepfit.tasks import make_task
from deepfit.tasks.base import Task
from deepfit.training.callbacks import Callback
from deepfit.training.sources import InMemorySource
from deepfit.training.state import INTERRUPTED

PREDICTION_SAMPLE = 50_000  # held-out rows whose answers make the predictions' reference
ENOUGH_HELD_OUT = 2_000  # fewer validation rows make noisy bins: training rows join them


@dataclass
class Fitted:
    """Everything ``fit`` learns; the front sets each as an attribute ending in ``_``."""

    network: TabularNetwork
    preprocessor: TabularPreprocessor
    task: Task
    settings: dict[str, Any]
    target_name: str
    history: list[dict[str, Any]]
    summary: dict[str, Any]
    calibration: Any = None
    quantile_network: TabularNetwork | None = None
    reference: dict[str, Any] | None = None  # the training data's, for drift (monitor/)
    served_network: TabularNetwork | None = None  # the few members the server runs (served.py)


@dataclass
class Parts:
    """The rows that train and the rows that stop early and calibrate (maybe none)."""

    train: pd.DataFrame
    train_target: np.ndarray
    validation: pd.DataFrame | None
    validation_target: np.ndarray | None


def fit_model(
    estimator: BaseEstimator,
    task_name: str,
    X: Any,
    y: Any,
    *,
    X_val: Any = None,
    y_val: Any = None,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
) -> Fitted:
    """Fit ``estimator``'s settings on ``X, y`` for the task ``task_name``."""
    params = estimator.get_params(deep=False)
    check_params(params, task_name)
    check_combinations(params, resume=resume, callbacks=callbacks)
    task = make_task(task_name)
    frame = as_frame(estimator, X, reset=True)
    name = target_name(y)
    target = task.check_target(y, name)
    check_lengths(frame, target)
    keep = task.learnable_rows(target)
    if keep is not None:
        frame, target = frame.iloc[np.flatnonzero(keep)].reset_index(drop=True), target[keep]
    task.check_learnable(target)
    note_constant_target(target, name)
    base = load_base(params, task_name)
    skewed = task.name == "regression" and skewed_positive(target, also=y_val)
    shape = DataShape(len(frame), has_numeric(frame, params["column_roles"]), skewed)
    resolved = resolve(params, shape, task.name)
    settings = resolved.settings
    if base is not None:  # fine-tuning: the old network's architecture and target encoding
        settings |= {key: base.settings[key] for key in ARCHITECTURE}
        task = base.task
    else:
        task.configure(settings, target)
    snapshot = saved_checkpoint(settings["checkpoint_dir"]) if resume else None
    seed = seed_for(settings["random_state"], snapshot)
    parts = _parts(estimator, task, frame, target, settings, seed, X_val, y_val)
    run = _run(parts, task, settings, seed, base, snapshot, callbacks)
    return train_run(run, parts, name, params, resolved.chosen)


def note_constant_target(target: np.ndarray, name: str) -> None:
    """Warn when every target value is the same: the model can only learn that value."""
    if len(target) > 1 and bool((target == target[0]).all()):
        value = target[0].item() if isinstance(target[0], np.generic) else target[0]
        warnings.warn(
            f"target '{name}' is constant (every value is {value!r}); the model will predict "
            f"{value!r} for every row, with intervals of zero width: check the target column",
            DeepfitWarning,
            stacklevel=4,
        )


def train_run(
    run: Run, parts: Parts, name: str, params: dict[str, Any], chosen: dict[str, Any]
) -> Fitted:
    """Train ``run``'s networks, calibrate them on ``parts``' validation rows, and gather
    what the fit learned (``name``: the target's; ``chosen``: what auto decided)."""
    settings, task = run.settings, run.task
    with torch.random.fork_rng(devices=[]):
        members, states = train_members(run)
        interrupted = states[-1].stop_reason == INTERRUPTED
        wants_quantiles = settings.get("interval_method") == "quantile" and run.val_data is not None
        quantile_network = train_quantiles(run) if wants_quantiles and not interrupted else None
    if interrupted:
        warnings.warn(
            f"training was interrupted (Ctrl-C) after {states[-1].epoch} epoch(s); the model "
            "keeps the best weights so far",
            DeepfitWarning,
            stacklevel=4,
        )
    network = members[0]
    if len(members) > 1:
        network = EnsembleNetwork(members, average=task.member_average)
    fitted = Fitted(
        network=network.eval(),
        preprocessor=run.preprocessor,
        task=task,
        settings={**settings, "n_ensemble": len(members)},
        target_name=name,
        history=[asdict(record) for record in states[0].history],
        summary=summary(states, run),
        quantile_network=quantile_network,
    )
    _calibrate(fitted, parts)
    served = served_members(
        fitted.network,
        fitted.preprocessor,
        task,
        parts.train,
        parts.validation,
        parts.validation_target,
        time_limit=settings["time_limit"],
        teach=not interrupted,
        precision=settings["precision"],
        verbose=bool(settings["verbose"]),
    )
    if served is not None:
        fitted.summary["served_members"] = served.record
        fitted.served_network = served.network
    fitted.reference = training_reference(fitted, run, parts).to_dict()
    _note_run(fitted.summary, params, chosen, run.snapshot)
    return fitted


def training_reference(fitted: Fitted, run: Run, parts: Parts) -> Reference:
    """The training rows' reference for drift (:mod:`deepfit.monitor.reference`): their
    features as the network saw them (the streamed pass's sample when streaming), and the
    model's answers on the validation rows (with the training rows when they are few)."""
    source = run.train_data
    if isinstance(source, InMemorySource):  # already prepared: take an even subset
        rows = len(source)
        keep = torch.from_numpy(even_rows(rows, MAX_SAMPLE)).to(source.device)
        numeric, codes = (source.tensors[k][keep].cpu().numpy() for k in ("numeric", "categorical"))
        features = PreparedFeatures(numeric=numeric, categorical=codes)
    else:
        features = fitted.preprocessor.transform(
            parts.train.iloc[even_rows(len(parts.train), MAX_SAMPLE)]
        )
    held, split = parts.validation, "validation"
    if held is None or len(held) < ENOUGH_HELD_OUT:  # too few for stable bins: add training
        held = parts.train if held is None else pd.concat([held, parts.train])
        split = "training" if parts.validation is None else "training and validation"
    held = held.iloc[even_rows(len(held), PREDICTION_SAMPLE)]
    outputs = answers(fitted.network, fitted.preprocessor.transform(held))
    task = fitted.task
    # a task with several outputs answers probabilities: its predictions of the identity
    # matrix are its classes, in the order of the answers' columns
    classes = None
    if task.n_outputs > 1:
        classes = [str(label) for label in task.predictions(np.eye(task.n_outputs))]
    return build_reference(fitted.preprocessor, features, outputs, classes=classes, split=split)


def _run(
    parts: Parts,
    task: Task,
    settings: dict[str, Any],
    seed: int,
    base: SavedModel | None,
    snapshot: Any,
    callbacks: Sequence[Callback],
) -> Run:
    """Preprocessing fitted on the training rows (or the base model's), and the sources."""
    if base is None:
        preprocessor = _fit_preprocessor(parts.train, settings)
        every = [t for t in (parts.train_target, parts.validation_target) if t is not None]
        task.fit(parts.train_target, every=np.concatenate(every))
    else:
        preprocessor = base.preprocessor
        roles = settings["column_roles"]
        check_same_columns(parts.train, preprocessor.schema, roles, str(settings["init_from"]))
    device = resolve_device(settings["device"])
    encoded = task.encode(parts.train_target)
    train_data = training_source(preprocessor, parts.train, encoded, device)
    val_data = None
    if parts.validation is not None and parts.validation_target is not None:
        encoded = task.encode(parts.validation_target)
        val_data = training_source(preprocessor, parts.validation, encoded, device)
    return Run(
        settings=settings,
        task=task,
        preprocessor=preprocessor,
        train_data=train_data,
        val_data=val_data,
        seed=seed,
        batch_size=int(settings["batch_size"]),
        callbacks=callbacks,
        base=None if base is None else base.network,
        snapshot=snapshot,
    )


def check_combinations(
    params: dict[str, Any], *, resume: bool, callbacks: Sequence[Callback]
) -> None:
    """Refuse settings that are each allowed but do not go together."""
    ensemble = int(params["n_ensemble"]) > 1
    if ensemble and params["checkpoint_dir"] is not None:
        raise ConfigError(
            "checkpoints save one network's training, not an ensemble's; drop "
            "checkpoint_dir (--checkpoint-dir) or train one network (n_ensemble=1)"
        )
    if ensemble and params["init_from"] is not None:
        raise ConfigError(
            "init_from fine-tunes one saved network, not an ensemble; drop init_from "
            "(--init-from) or train one network (n_ensemble=1)"
        )
    if resume and params["checkpoint_dir"] is None:
        raise ConfigError(
            "resume needs a checkpoint folder; pass checkpoint_dir (--checkpoint-dir) too"
        )
    if params["train_last"] is not None and params["init_from"] is None:
        raise ConfigError(
            "train_last freezes layers of a model being fine-tuned; pass init_from "
            "(--init-from) with the saved model, or drop train_last"
        )
    wrong = [callback for callback in callbacks if not isinstance(callback, Callback)]
    if wrong:
        raise ConfigError(
            f"callbacks must be deepfit.training.callbacks.Callback objects, however: {wrong[0]!r}"
        )


def load_base(params: dict[str, Any], task_name: str) -> SavedModel | None:
    """The saved model that fine-tuning starts from, checked, or None."""
    path = params["init_from"]
    if path is None:
        return None
    base = load_model(path)
    check_base(base, path, task_name)
    return base


def has_numeric(frame: pd.DataFrame, roles: dict[str, str] | None) -> bool:
    """Whether ``frame`` has a column auto's numeric embeddings apply to (``roles``: the
    user's column roles)."""
    schema = infer_schema(frame, roles=roles, target=None)
    return any(c.role in ("numeric", "boolean", "datetime") for c in schema.columns)


def _fit_preprocessor(frame: pd.DataFrame, settings: dict[str, Any]) -> TabularPreprocessor:
    schema = infer_schema(frame, roles=settings["column_roles"], target=None)
    for note in schema.notes:
        warnings.warn(note, DeepfitWarning, stacklevel=4)
    preprocessor = TabularPreprocessor(schema, min_category_count=settings["min_category_count"])
    return preprocessor.fit(frame)


def _parts(
    estimator: BaseEstimator,
    task: Task,
    frame: pd.DataFrame,
    target: np.ndarray,
    settings: dict[str, Any],
    seed: int,
    X_val: Any,
    y_val: Any,
) -> Parts:
    """The given validation set, or a seeded held-out share of the rows, or none."""
    if X_val is not None or y_val is not None:
        if X_val is None or y_val is None:
            raise ConfigError("pass both X_val and y_val, or neither")
        val_frame = as_frame(estimator, X_val, reset=False)
        val_target = task.check_target(y_val, target_name(y_val))
        check_lengths(val_frame, val_target)
        return Parts(frame, target, val_frame, val_target)
    fraction = float(settings["validation_fraction"]) if settings["patience"] else 0.0
    split = RowSplitter(fraction, 0.0, min_rows=MIN_TRAIN_ROWS).held_out(
        len(frame), seed=seed, labels=task.split_labels(target)
    )
    if split is None:
        return Parts(frame, target, None, None)
    return Parts(
        frame.iloc[split.train],
        target[split.train],
        frame.iloc[split.validation],
        target[split.validation],
    )


def _calibrate(fitted: Fitted, parts: Parts) -> None:
    """Calibrate the head and the intervals or sets on the held-out rows, if there are any."""
    if parts.validation is None or parts.validation_target is None:
        fitted.network.head = fitted.task.head()
        return
    features = fitted.preprocessor.transform(parts.validation)
    calibration = fitted.task.calibrate(
        raw_outputs(fitted.network, features),
        parts.validation_target,
        fitted.settings,
    )
    fitted.network.head = fitted.task.head()
    if fitted.quantile_network is not None:
        fitted.quantile_network.head = fitted.task.head()
        quantiles = answers(fitted.quantile_network, features)
        if np.isfinite(quantiles).all() and calibration is not None:
            calibration = QuantileCalibration.from_predictions(
                quantiles, np.asarray(parts.validation_target, dtype=np.float64)
            )
        else:
            calibration = None
    fitted.calibration = calibration


def _note_run(
    summary: dict[str, Any],
    params: dict[str, Any],
    chosen: dict[str, Any],
    snapshot: Any,
) -> None:
    if chosen:
        summary["auto"] = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in chosen.items()
        }
    if snapshot is not None:
        summary["resumed_from_epoch"] = snapshot.epoch
    if params["init_from"] is not None:
        summary["init_from"] = str(params["init_from"])
        summary["train_last"] = params["train_last"]
