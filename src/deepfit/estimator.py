"""``Regressor``: a scikit-learn estimator that fits a tabular neural network.

Example:
    >>> import numpy as np
    >>> from deepfit import Regressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = X @ [1.0, -2.0, 0.5]
    >>> model = Regressor(hidden_layers=(32,), max_epochs=30).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2,)
    >>> model.predict(X[:2], interval=0.9).lower.shape  # split-conformal bounds
    (2,)
    >>> ensemble = Regressor(hidden_layers=(32,), max_epochs=30, n_ensemble=3).fit(X, y)
    >>> ensemble.predict_spread(X[:2]).shape  # std across the 3 members
    (2,)
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import validate_data
from torch import nn

from deepfit.auto import AUTO, auto_settings
from deepfit.data.io import read_table
from deepfit.data.preprocess import PreparedFeatures, TabularPreprocessor
from deepfit.data.schema import Schema, infer_schema
from deepfit.data.target import TargetScaler, check_target
from deepfit.device import resolve_device
from deepfit.errors import ConfigError, DataError, DeepfitWarning, NotFittedError
from deepfit.evaluation.intervals import (
    QUANTILE_LEVELS,
    ConformalCalibration,
    PredictionIntervals,
    QuantileCalibration,
    bounds,
    check_level,
    quantile_bounds,
)
from deepfit.models.ensemble import EnsembleNetwork
from deepfit.models.inputs import DEFAULT_CLIP
from deepfit.models.network import TabularNetwork
from deepfit.models.registry import build_network
from deepfit.training.callbacks import Callback, EarlyStopping, ProgressBar, TimeLimit
from deepfit.training.checkpoint import (
    Checkpoint,
    Snapshot,
    check_fingerprint,
    checkpoint_path,
    file_digest,
    fingerprint,
    load_checkpoint,
)
from deepfit.training.loop import EVAL_BATCH, TrainConfig, predict, train
from deepfit.training.sources import InMemorySource, inputs_of
from deepfit.training.state import INTERRUPTED, TrainState

MIN_TRAIN_ROWS = 2
ARCHITECTURE = (
    "model",
    "hidden_layers",
    "activation",
    "dropout",
    "norm",
    "clip",
    "numeric_embedding",
    "model_options",
)
INTERVAL_METHODS = ("conformal", "quantile")
QUANTILE_SEED = 0x9A4E  # the interval network's seed offset, apart from the members'
Calibration = ConformalCalibration | QuantileCalibration
AUTO_BATCH_MIN = 64
AUTO_BATCH_MAX = 512
BOOTSTRAP_STREAM = 0xB007  # keeps bootstrap draws apart from the validation split's


@dataclass
class PredictionResult:
    """Predictions in the target's units, and what preparing the rows noticed.

    With ``predict_with_details(X, interval=level)``, ``lower`` and ``upper`` hold the
    conformal interval of every row at ``level``; otherwise the three are None. With
    ``spread=True``, ``spread`` holds the standard deviation across an ensemble's members
    (see :meth:`Regressor.predict_spread`); otherwise it is None.
    """

    values: np.ndarray
    unseen_categories: int
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    level: float | None = None
    spread: np.ndarray | None = None


class Regressor(RegressorMixin, BaseEstimator):
    """A neural-network regressor for tables, with scikit-learn's fit / predict / score.

    Features may be a pandas or polars DataFrame (numeric, categorical, boolean and date
    columns; missing values allowed) or a numeric array. The target is standardised for
    training and predictions come back in its own units.

    Parameters:
        model: the network architecture, by name: ``"auto"`` (the default: deepfit picks the
            network and its training recipe from the data's size, see :mod:`deepfit.auto`,
            filling in only the settings left at their defaults), ``"mlp"``, ``"resnet"``,
            ``"ft_transformer"`` or ``"ensemble"`` (TabM: k MLPs in one module sharing their
            weights, see :mod:`deepfit.models.tabm`); ``deepfit.models.MODELS`` lists them.
        hidden_layers: widths of the hidden layers, e.g. ``(256, 256)``.
        activation: relu, leaky_relu, elu, gelu, selu, tanh, sigmoid, mish or silu.
        dropout: dropout rate after each hidden layer.
        norm: ``"batch"``, ``"layer"`` or None.
        loss: ``"mse"``, ``"mae"`` or ``"huber"`` (``huber_delta`` in target standard deviations).
        optimizer: ``"adamw"``, ``"adam"``, ``"sgd"`` (Nesterov momentum) or ``"rmsprop"``.
        schedule: learning-rate schedule, ``"cosine"``, ``"plateau"``, ``"constant"`` or
            ``"anneal"`` (constant, then a linear decay to zero over the last quarter of the
            time limit or of ``max_epochs``, or once the validation loss has stalled for half
            of ``patience``).
        l1, l2: weight penalties on linear layers; both non-zero gives elastic net.
        batch_size: rows per step; ``"auto"`` grows with the data from 64 to 512.
        max_epochs, patience: training length; early stopping on the validation loss
            restores the best weights (``patience=None`` trains for ``max_epochs``).
        validation_fraction: share of the training rows held out for early stopping when
            no validation set is passed to :meth:`fit`.
        time_limit: seconds of training after which the run stops (None: no limit).
        clip: numeric features are robust-scaled, then smoothly clipped to ``(-clip, clip)``.
        min_category_count: categories seen fewer times share the "unknown" embedding.
        column_roles: override inferred roles, e.g. ``{"zip": "categorical", "id": "drop"}``.
        device: ``"auto"`` (a GPU when present), ``"cpu"`` or ``"cuda"``.
        random_state: seed for the split, initialisation, dropout and batch order.
        verbose: 1 shows a progress bar on standard error.
        checkpoint_dir: a folder where the complete training state is saved, atomically, as
            ``checkpoint.safetensors`` every ``checkpoint_every`` epochs and at the end (None:
            no checkpoints). ``fit(X, y, resume=True)`` continues the run saved there; with
            the same settings and data the final model is the one an uninterrupted run gives
            (bitwise on CPU with the same thread count). A checkpoint from other settings or
            data is refused; with none there yet, training starts from scratch with a warning.
        checkpoint_every: epochs between checkpoints.
        init_from: a saved ``.deepfit`` model to fine-tune: its preprocessing (schema,
            statistics, vocabularies), target scaling, architecture (``model``,
            ``hidden_layers``, ``activation``, ``dropout``, ``norm``, ``clip``; the values
            given here are ignored) and weights are the starting point; the training settings
            come from this estimator. The data must have the old model's feature columns,
            with the same roles.
        train_last: with ``init_from``, train only the last ``train_last`` linear layers and
            freeze every other parameter (input embeddings included); None trains everything.
            Batch-norm running statistics still adapt to the new data.
        n_ensemble: train this many networks, one after another, with seeds
            ``random_state + i``, and predict their mean (see below). 1: one network.
        bootstrap: with ``n_ensemble > 1``, train each member on its own seeded bootstrap
            resample of the training rows (early stopping still uses the same validation
            rows); False: every member sees every training row and only the seed differs.
        numeric_embedding: embed each numeric feature before the backbone: ``"periodic"``
            (PLR: learned frequencies, cos and sin, a linear layer) or ``"piecewise"``
            (piecewise-linear encoding over quantile bins of the training data); None feeds
            the scaled values as they are.
        model_options: architecture-specific settings, e.g. ``{"d_token": 96}`` for
            ``ft_transformer``, ``{"k": 16}`` for ``ensemble`` or ``{"n_bins": 32}`` for
            the piecewise embedding (see each model's module for its keys and defaults).
        interval_method: how ``predict(X, interval=...)`` bounds are made: ``"conformal"``
            (one width for all rows, any level) or ``"quantile"`` (a second network learns
            the quantiles 0.025 ... 0.975 with the pinball loss and the held-out rows
            conformalise them: each row gets its own width; levels 0.05, 0.10, ..., 0.95;
            training takes about twice as long).

    Prediction intervals: after training, ``fit`` keeps the absolute residuals of the
    held-out validation rows (``calibration_``, see :mod:`deepfit.evaluation.intervals`), and
    ``predict(X, interval=0.9)`` returns split-conformal bounds that contain the target of
    90% of new rows from the same distribution. Early stopping chose the epoch on those
    rows too, which makes the coverage very slightly optimistic; with ``patience=None``
    and ``X_val, y_val`` given, the rows only calibrate. A model fitted without held-out
    rows (``patience=None`` and no ``X_val``, or ``validation_fraction=0``) has no
    intervals. ``interval_method="quantile"`` gives conformalised quantile regression
    instead (see :mod:`deepfit.evaluation.intervals`).

    Ensembles: with ``n_ensemble=K`` the fitted ``network_`` is an
    :class:`~deepfit.models.ensemble.EnsembleNetwork` whose output is the mean of the K
    members; serving, export, explanations and saving treat it like one network. Each member
    trains with the usual loop and callbacks; ``time_limit`` is the budget of the whole
    ensemble (each member gets an equal share of what is left); checkpoints, ``init_from``
    and ``train_last`` are for single networks. ``history_`` is member 0's curve,
    ``training_summary_["members"]`` has every member's epochs, best epoch, best validation
    loss and seconds, the intervals are calibrated on the ensemble's residuals, and
    :meth:`predict_spread` gives the members' disagreement.

    Example:
        >>> tuned = Regressor(init_from="old.deepfit", train_last=1)  # doctest: +SKIP
        >>> tuned.fit(X_new, y_new).save("tuned.deepfit")  # doctest: +SKIP
    """

    # Fitted attributes that fitting reads back from another (saved) model when fine-tuning.
    network_: TabularNetwork
    preprocessor_: TabularPreprocessor

    def __init__(
        self,
        *,
        model: str = AUTO,
        hidden_layers: tuple[int, ...] = (256, 256, 256),
        activation: str = "relu",
        dropout: float = 0.1,
        norm: str | None = None,
        loss: str = "mse",
        huber_delta: float = 1.0,
        optimizer: str = "adamw",
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-5,
        momentum: float = 0.9,
        schedule: str = "cosine",
        l1: float = 0.0,
        l2: float = 0.0,
        batch_size: int | str = "auto",
        max_epochs: int = 200,
        patience: int | None = 20,
        validation_fraction: float = 0.15,
        time_limit: float | None = None,
        clip: float = DEFAULT_CLIP,
        min_category_count: int = 2,
        column_roles: dict[str, str] | None = None,
        device: str = "auto",
        random_state: int | None = 0,
        verbose: int = 0,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 1,
        init_from: str | Path | None = None,
        train_last: int | None = None,
        n_ensemble: int = 1,
        bootstrap: bool = False,
        numeric_embedding: str | None = None,
        model_options: dict[str, Any] | None = None,
        interval_method: str = "conformal",
    ) -> None:
        self.model = model
        self.hidden_layers = hidden_layers
        self.activation = activation
        self.dropout = dropout
        self.norm = norm
        self.loss = loss
        self.huber_delta = huber_delta
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.schedule = schedule
        self.l1 = l1
        self.l2 = l2
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.time_limit = time_limit
        self.clip = clip
        self.min_category_count = min_category_count
        self.column_roles = column_roles
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.init_from = init_from
        self.train_last = train_last
        self.n_ensemble = n_ensemble
        self.bootstrap = bootstrap
        self.numeric_embedding = numeric_embedding
        self.model_options = model_options
        self.interval_method = interval_method

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ----------------------------------------------------------------------------- fit
    def fit(
        self, X: Any, y: Any, *, X_val: Any = None, y_val: Any = None, resume: bool = False
    ) -> Regressor:
        """Fit the network on ``X, y``; early-stop on ``X_val, y_val`` or a held-out share.

        ``resume=True`` continues the run saved in ``checkpoint_dir`` (see the class
        docstring). Ctrl-C stops training at the end of the current batch and the model keeps
        the best weights so far (``training_summary_["stop_reason"] == "interrupted"``).
        Returns self, so ``Regressor().fit(X, y).predict(X_new)`` works.
        """
        self._check_params(resume=resume)
        if self.model == AUTO and self.init_from is None:  # fine-tuning keeps the old network
            return self._fit_auto(X, y, X_val=X_val, y_val=y_val, resume=resume)
        frame = self._as_frame(X, reset=True)
        target = check_target(y, _target_name(y))
        if len(target) != len(frame):
            raise DataError(
                f"X has {len(frame)} rows but y has {len(target)} values; they must match"
            )
        if len(frame) < MIN_TRAIN_ROWS:
            raise DataError(
                f"{len(frame)} sample(s) are too few to train on; provide at least "
                f"{MIN_TRAIN_ROWS} rows"
            )
        snapshot = self._saved_checkpoint() if resume else None
        seed = self._seed(snapshot)
        train_frame, train_target, val_frame, val_target = self._validation_split(
            frame, target, X_val, y_val, seed
        )

        base = None if self.init_from is None else _load_base(self.init_from)
        if base is None:
            schema = infer_schema(train_frame, roles=self.column_roles, target=None)
            for note in schema.notes:
                warnings.warn(note, DeepfitWarning, stacklevel=2)
            preprocessor = TabularPreprocessor(schema, min_category_count=self.min_category_count)
            preprocessor.fit(train_frame)
            scaler = TargetScaler.fit(train_target)
            architecture = self._architecture()
        else:  # fine-tuning: the old model's preprocessing, target scale and architecture
            preprocessor = base.preprocessor_
            _check_same_columns(
                train_frame, preprocessor.schema, self.column_roles, str(self.init_from)
            )
            old = base.network_
            if isinstance(old, EnsembleNetwork):
                raise ConfigError(
                    f"{self.init_from} holds an ensemble; fine-tuning takes a single network, "
                    "so train a new ensemble instead of passing init_from (--init-from)"
                )
            scaler = TargetScaler(float(old.target_mean), float(old.target_std))
            architecture = base._architecture()
        device = resolve_device(self.device)
        train_data = _tensors(preprocessor, scaler, train_frame, train_target, device)
        val_data = None
        if val_frame is not None and val_target is not None:
            val_data = _tensors(preprocessor, scaler, val_frame, val_target, device)
        batch_size = self._batch_size(len(train_data))
        members: list[TabularNetwork] = []
        states: list[TrainState] = []
        with torch.random.fork_rng(devices=[]):
            for index in range(int(self.n_ensemble)):  # one network unless n_ensemble > 1
                member_seed = seed + index
                torch.manual_seed(member_seed)
                if base is not None:
                    network = base.network_.to(device)
                else:
                    network = self._new_member(preprocessor, scaler).to(device)
                    network.initialise_from_data(**inputs_of(train_data.tensors))
                if self.train_last is not None:
                    _train_only_last(network, int(self.train_last))
                share = self._time_share(states)
                config = self._train_config(
                    member_seed,
                    batch_size=batch_size,
                    time_budget=share,
                    has_validation=val_data is not None,
                )
                callbacks = self._callbacks(has_validation=val_data is not None, time_limit=share)
                if self.checkpoint_dir is not None:  # single networks only: _check_params
                    settings = self._run_settings(config, architecture)
                    run = fingerprint(settings, train_data, val_data)
                    callbacks.append(self._checkpoint(run, snapshot))  # last: see Checkpoint
                rows = _bootstrap(train_data, member_seed) if self.bootstrap else train_data
                states.append(train(network, rows, val_data, config, callbacks))
                members.append(network.requires_grad_(True).cpu().eval())
                if states[-1].stop_reason == INTERRUPTED:
                    break  # the members trained so far make the model
            quantile_network = None
            wanted = self.interval_method == "quantile" and val_data is not None
            if wanted and val_data is not None and states[-1].stop_reason != INTERRUPTED:
                quantile_network = self._train_quantiles(
                    preprocessor, scaler, train_data, val_data, seed, batch_size
                )
        state = states[-1]
        if state.stop_reason == INTERRUPTED:
            warnings.warn(
                f"training was interrupted (Ctrl-C) after {state.epoch} epoch(s); the model "
                "keeps the best weights so far",
                DeepfitWarning,
                stacklevel=2,
            )
        self.network_ = members[0] if len(members) == 1 else EnsembleNetwork(members).eval()
        self.network_params_ = {**architecture, "n_ensemble": len(members)}
        self.preprocessor_ = preprocessor
        self.target_name_ = _target_name(y)
        first = states[0]  # member 0's curve and stopping stand for the ensemble's
        self.history_ = [asdict(record) for record in first.history]
        self.training_summary_: dict[str, Any] = {
            "epochs": first.epoch,
            "best_epoch": first.best_epoch,
            "best_validation_loss": first.best_validation_loss,
            "stop_reason": INTERRUPTED if state.stop_reason == INTERRUPTED else first.stop_reason,
            "seconds": round(sum(member.seconds for member in states), 3),
            "train_rows": len(train_data),
            "validation_rows": 0 if val_data is None else len(val_data),
            "batch_size": batch_size,
            "device": str(device),
        }
        if int(self.n_ensemble) > 1:
            self.training_summary_["members"] = [_member_summary(member) for member in states]
        self.quantile_network_ = quantile_network
        self.calibration_: Calibration | None = None
        if val_frame is not None and val_target is not None:
            self.calibration_ = self._calibrate(val_frame, val_target)
        if snapshot is not None:
            self.training_summary_["resumed_from_epoch"] = snapshot.epoch
        if self.init_from is not None:
            self.training_summary_["init_from"] = str(self.init_from)
            self.training_summary_["train_last"] = self.train_last
        return self

    def _fit_auto(self, X: Any, y: Any, *, X_val: Any, y_val: Any, resume: bool) -> Regressor:
        """Fit with :func:`~deepfit.auto.auto_settings` for the settings left at default."""
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(Regressor.__init__).parameters.items()
        }
        frame = self._as_frame(X, reset=True)
        schema = infer_schema(frame, roles=self.column_roles, target=None)
        numeric = any(c.role in ("numeric", "boolean", "datetime") for c in schema.columns)
        chosen = {
            name: value
            for name, value in auto_settings(len(frame), has_numeric=numeric).items()
            if name == "model" or _same(getattr(self, name), defaults[name])
        }
        resolved = clone(self).set_params(**chosen)
        if "_extra_callbacks" in self.__dict__:  # deepfit.tuning's pruning callback
            resolved.__dict__["_extra_callbacks"] = self.__dict__["_extra_callbacks"]
        resolved.fit(X, y, X_val=X_val, y_val=y_val, resume=resume)
        for name, value in vars(resolved).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(self, name, value)
        self.training_summary_["auto"] = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in chosen.items()
        }
        return self

    def _train_quantiles(
        self,
        preprocessor: TabularPreprocessor,
        scaler: TargetScaler,
        train_data: InMemorySource,
        val_data: InMemorySource,
        seed: int,
        batch_size: int,
    ) -> TabularNetwork:
        """The interval network: the model's architecture with one output per quantile of
        :data:`~deepfit.evaluation.intervals.QUANTILE_LEVELS`, trained with the pinball loss."""
        torch.manual_seed(seed + QUANTILE_SEED)
        network = self._new_member(preprocessor, scaler, outputs=len(QUANTILE_LEVELS))
        network = network.to(train_data.device)
        network.initialise_from_data(**inputs_of(train_data.tensors))
        config = replace(
            self._train_config(
                seed + QUANTILE_SEED,
                batch_size=batch_size,
                time_budget=self.time_limit,
                has_validation=True,
            ),
            loss="quantile",
            quantiles=QUANTILE_LEVELS,
        )
        callbacks = self._callbacks(has_validation=True, time_limit=self.time_limit, extra=False)
        train(network, train_data, val_data, config, callbacks)
        return network.cpu().eval()

    def _calibrate(self, val_frame: pd.DataFrame, val_target: np.ndarray) -> Calibration | None:
        """The conformal calibration on the held-out rows: absolute residuals, or the
        quantile network's CQR scores."""
        features = self.preprocessor_.transform(val_frame)
        predicted = self.predict_features(features)
        target = np.asarray(val_target, dtype=np.float64)
        residuals = np.abs(target - predicted)
        quantiles = None if self.quantile_network_ is None else self.quantile_features(features)
        if not np.isfinite(residuals).all() or (
            quantiles is not None and not np.isfinite(quantiles).all()
        ):
            warnings.warn(
                "some validation predictions are not finite, so the model has no prediction "
                "intervals",
                DeepfitWarning,
                stacklevel=3,
            )
            return None
        if quantiles is not None:
            return QuantileCalibration.from_predictions(quantiles, target)
        return ConformalCalibration.from_residuals(residuals)

    def _validation_split(
        self, frame: pd.DataFrame, target: np.ndarray, X_val: Any, y_val: Any, seed: int
    ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None, np.ndarray | None]:
        """The given validation set, or a seeded held-out share of the rows, or none."""
        if X_val is not None or y_val is not None:
            if X_val is None or y_val is None:
                raise ConfigError("pass both X_val and y_val, or neither")
            val_frame = self._as_frame(X_val, reset=False)
            return frame, target, val_frame, check_target(y_val, _target_name(y_val))
        n_val = round(len(frame) * self.validation_fraction) if self.patience else 0
        if n_val < 1 or len(frame) - n_val < MIN_TRAIN_ROWS:
            return frame, target, None, None
        order = np.random.default_rng(seed).permutation(len(frame))
        val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
        return (frame.iloc[train_rows], target[train_rows], frame.iloc[val_rows], target[val_rows])

    def _check_params(self, *, resume: bool = False) -> None:
        if self.batch_size != "auto" and (
            not isinstance(self.batch_size, int | np.integer) or self.batch_size < 1
        ):
            raise ConfigError(
                f"batch_size must be a positive integer or 'auto', however: {self.batch_size!r}"
            )
        if not isinstance(self.max_epochs, int | np.integer) or self.max_epochs < 1:
            raise ConfigError(f"max_epochs must be a positive integer, however: {self.max_epochs}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(
                f"validation_fraction must be in [0, 1), however: {self.validation_fraction}"
            )
        if self.time_limit is not None and self.time_limit <= 0:
            raise ConfigError(f"time_limit must be positive seconds, however: {self.time_limit}")
        if not isinstance(self.checkpoint_every, int | np.integer) or self.checkpoint_every < 1:
            raise ConfigError(
                f"checkpoint_every must be a positive integer, however: {self.checkpoint_every!r}"
            )
        if not isinstance(self.n_ensemble, int | np.integer) or self.n_ensemble < 1:
            raise ConfigError(
                f"n_ensemble must be a positive integer (1: one network), however: "
                f"{self.n_ensemble!r}"
            )
        if self.interval_method not in INTERVAL_METHODS:
            raise ConfigError(
                f"interval_method must be one of {', '.join(INTERVAL_METHODS)}, however: "
                f"{self.interval_method!r}"
            )
        if self.model_options is not None and not isinstance(self.model_options, dict):
            raise ConfigError(
                f"model_options must be a dict of settings or None, however: {self.model_options!r}"
            )
        if not isinstance(self.bootstrap, bool | np.bool_):
            raise ConfigError(f"bootstrap must be True or False, however: {self.bootstrap!r}")
        if self.n_ensemble > 1 and self.checkpoint_dir is not None:
            raise ConfigError(
                "checkpoints save one network's training, not an ensemble's; drop "
                "checkpoint_dir (--checkpoint-dir) or train one network (n_ensemble=1)"
            )
        if self.n_ensemble > 1 and self.init_from is not None:
            raise ConfigError(
                "init_from fine-tunes one saved network, not an ensemble; drop init_from "
                "(--init-from) or train one network (n_ensemble=1)"
            )
        if resume and self.checkpoint_dir is None:
            raise ConfigError(
                "resume needs a checkpoint folder; pass checkpoint_dir (--checkpoint-dir) too"
            )
        if self.train_last is not None:
            if not isinstance(self.train_last, int | np.integer) or self.train_last < 1:
                raise ConfigError(
                    f"train_last must be a positive integer or None, however: {self.train_last!r}"
                )
            if self.init_from is None:
                raise ConfigError(
                    "train_last freezes layers of a model being fine-tuned; pass init_from "
                    "(--init-from) with the saved model, or drop train_last"
                )

    def _seed(self, snapshot: Snapshot | None = None) -> int:
        """``random_state``; when it is None, a resumed run's own seed or a fresh one."""
        if self.random_state is not None:
            return int(self.random_state)
        saved = None if snapshot is None else snapshot.fingerprint["settings"].get("seed")
        if isinstance(saved, int):
            return saved
        return int(np.random.default_rng().integers(2**31 - 1))

    def _saved_checkpoint(self) -> Snapshot | None:
        """The checkpoint to resume, or None (with a warning) when there is none yet."""
        path = checkpoint_path(self.checkpoint_dir or ".")
        if not path.exists():
            warnings.warn(
                f"no checkpoint in {path.parent} to resume, so training starts from scratch",
                DeepfitWarning,
                stacklevel=3,
            )
            return None
        return load_checkpoint(path)

    def _checkpoint(self, run: dict[str, Any], snapshot: Snapshot | None) -> Checkpoint:
        """The callback that saves this run, refusing a ``snapshot`` of another run."""
        directory = Path(self.checkpoint_dir or ".")
        if snapshot is not None:
            check_fingerprint(snapshot, run)
        elif checkpoint_path(directory).exists():
            warnings.warn(
                f"{checkpoint_path(directory)} will be replaced by this new run; pass "
                "resume=True (--resume) to continue it instead",
                DeepfitWarning,
                stacklevel=3,
            )
        return Checkpoint(
            directory,
            every=int(self.checkpoint_every),
            fingerprint=run,
            resume_from=snapshot,
        )

    def _run_settings(self, config: TrainConfig, architecture: dict[str, Any]) -> dict[str, Any]:
        """Everything besides the data that shapes a run, which a resumed run must share."""
        # the time budget may change when a run is resumed, as the time limit may
        return {
            **{key: value for key, value in asdict(config).items() if key != "time_budget"},
            **architecture,
            "patience": None if self.patience is None else int(self.patience),
            "validation_fraction": float(self.validation_fraction),
            "min_category_count": int(self.min_category_count),
            "column_roles": self.column_roles,
            "init_from": None if self.init_from is None else file_digest(self.init_from),
            "train_last": None if self.train_last is None else int(self.train_last),
        }

    def _architecture(self) -> dict[str, Any]:
        """The parameters that decide the network's shape, as this estimator holds them."""
        return {
            "model": self.model,
            "hidden_layers": tuple(int(width) for width in self.hidden_layers),
            "activation": self.activation,
            "dropout": float(self.dropout),
            "norm": self.norm,
            "clip": float(self.clip),
            "numeric_embedding": self.numeric_embedding,
            "model_options": None if self.model_options is None else dict(self.model_options),
        }

    def _new_network(
        self, preprocessor: TabularPreprocessor, scaler: TargetScaler | None = None
    ) -> TabularNetwork:
        """A freshly initialised network (an ensemble when ``n_ensemble > 1``) for data
        prepared by ``preprocessor``."""
        if int(self.n_ensemble) > 1:
            return EnsembleNetwork(
                [self._new_member(preprocessor, scaler) for _ in range(int(self.n_ensemble))]
            )
        return self._new_member(preprocessor, scaler)

    def _new_member(
        self,
        preprocessor: TabularPreprocessor,
        scaler: TargetScaler | None = None,
        *,
        outputs: int = 1,
    ) -> TabularNetwork:
        """One freshly initialised network for data prepared by ``preprocessor``."""
        scaler = scaler or TargetScaler()
        return build_network(
            self.model,
            medians=preprocessor.medians,
            scales=preprocessor.scales,
            missing_indicators=preprocessor.missing_in_training,
            cardinalities=preprocessor.cardinalities,
            options=self._network_options() | {"outputs": outputs},
            target_mean=scaler.mean,
            target_std=scaler.std,
        )

    def _new_quantile_network(self, preprocessor: TabularPreprocessor) -> TabularNetwork:
        """An untrained interval network, for loading saved weights into."""
        return self._new_member(preprocessor, outputs=len(QUANTILE_LEVELS))

    def _network_options(self) -> dict[str, Any]:
        return {
            **(self.model_options or {}),
            "hidden_layers": [int(width) for width in self.hidden_layers],
            "activation": self.activation,
            "dropout": float(self.dropout),
            "norm": self.norm,
            "clip": float(self.clip),
            "numeric_embedding": self.numeric_embedding,
        }

    def _batch_size(self, n_rows: int) -> int:
        """``"auto"``: 64 rows for small data, growing to 512 from 32k rows (>= 32 steps/epoch)."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        return int(
            min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, 2 ** round(np.log2(max(n_rows, 1) / 64))))
        )

    def _train_config(
        self, seed: int, *, batch_size: int, time_budget: float | None, has_validation: bool
    ) -> TrainConfig:
        stall = int(self.patience) // 2 if self.patience and has_validation else None
        return TrainConfig(
            loss=self.loss,
            huber_delta=self.huber_delta,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            momentum=self.momentum,
            schedule=self.schedule,
            l1=self.l1,
            l2=self.l2,
            batch_size=batch_size,
            max_epochs=int(self.max_epochs),
            seed=seed,
            time_budget=time_budget,
            stall_epochs=max(1, stall) if stall is not None else None,
        )

    def _time_share(self, done: list[TrainState]) -> float | None:
        """The next member's seconds: an equal share of what the earlier members left."""
        if self.time_limit is None:
            return None
        left = float(self.time_limit) - sum(state.seconds for state in done)
        return max(left, 0.0) / (int(self.n_ensemble) - len(done))

    def _callbacks(
        self, *, has_validation: bool, time_limit: float | None, extra: bool = True
    ) -> list[Callback]:
        callbacks: list[Callback] = []
        if has_validation and self.patience:
            callbacks.append(EarlyStopping(patience=int(self.patience)))
        if time_limit is not None:
            callbacks.append(TimeLimit(time_limit))
        if self.verbose:
            callbacks.append(ProgressBar())
        if extra:
            callbacks.extend(getattr(self, "_extra_callbacks", ()))  # set by deepfit.tuning
        return callbacks

    # ------------------------------------------------------------------------- predict
    @overload
    def predict(self, X: Any, interval: None = None) -> np.ndarray: ...

    @overload
    def predict(self, X: Any, interval: float) -> PredictionIntervals: ...

    def predict(self, X: Any, interval: float | None = None) -> np.ndarray | PredictionIntervals:
        """Predictions for ``X`` in the target's units, as float64.

        With ``interval`` (a coverage level in (0, 1), e.g. 0.9), a
        :class:`~deepfit.evaluation.intervals.PredictionIntervals` instead: ``.prediction``
        (the same values), ``.lower`` and ``.upper``, split-conformal bounds that hold the target of
        that share of new rows (see :mod:`deepfit.evaluation.intervals`); ``.to_frame()`` makes a
        DataFrame of them. A level outside (0, 1), one too high for the number of
        calibration rows, or a model without calibration raise a ConfigError.

        Example:
            >>> bounds = model.predict(X_new, interval=0.9)  # doctest: +SKIP
            >>> bounds.to_frame()  # columns prediction, lower, upper  # doctest: +SKIP
        """
        result = self.predict_with_details(X, interval=interval)
        if result.lower is None or result.upper is None or result.level is None:
            return result.values
        return PredictionIntervals(result.values, result.lower, result.upper, result.level)

    def predict_with_details(
        self, X: Any, *, interval: float | None = None, spread: bool = False
    ) -> PredictionResult:
        """Predictions, how many category values were unseen, bounds at ``interval``, and
        with ``spread=True`` the ensemble members' standard deviation (see
        :meth:`predict_spread`)."""
        self._check_fitted()
        calibration = None if interval is None else self.interval_calibration(interval)
        features = self.preprocessor_.transform(self._as_frame(X, reset=False))
        values = self.predict_features(features)
        deviation = self.spread_features(features) if spread else None
        if calibration is None or interval is None:
            return PredictionResult(values, features.unseen_categories, spread=deviation)
        lower, upper = self.interval_bounds(features, values, interval)
        return PredictionResult(
            values, features.unseen_categories, lower, upper, check_level(interval), deviation
        )

    def predict_spread(self, X: Any) -> np.ndarray:
        """How much an ensemble's members disagree on each row of ``X``, in target units.

        The standard deviation (``ddof=0``) of the members' predictions around the ensemble's
        prediction; zeros for a single network (``n_ensemble=1``).

        Example:
            >>> model = Regressor(n_ensemble=5).fit(X, y)  # doctest: +SKIP
            >>> model.predict_spread(X_new)  # large where the members disagree  # doctest: +SKIP
        """
        self._check_fitted()
        return self.spread_features(self.preprocessor_.transform(self._as_frame(X, reset=False)))

    def spread_features(self, features: PreparedFeatures) -> np.ndarray:
        """:meth:`predict_spread` for rows already prepared by ``self.preprocessor_``."""
        self._check_fitted()
        network = self.network_
        if not isinstance(network, EnsembleNetwork):
            return np.zeros(len(features), dtype=np.float64)
        numeric = torch.tensor(features.numeric)
        categorical = torch.tensor(features.categorical)
        network.eval()
        with torch.no_grad():
            outputs = [
                network.member_outputs(numeric[batch], categorical[batch])
                for batch in torch.arange(len(features)).split(EVAL_BATCH)
            ]
        members = torch.cat(outputs, dim=1) if outputs else torch.zeros((network.size, 0))
        spread = members.double().std(dim=0, correction=0) * network.target_std
        return spread.numpy()

    def interval_bounds(
        self, features: PreparedFeatures, predictions: np.ndarray, level: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds at ``level`` for rows already prepared by
        ``self.preprocessor_``, whose predictions are ``predictions``."""
        calibration = self.interval_calibration(level)
        if isinstance(calibration, QuantileCalibration):
            quantiles = self.quantile_features(features)
            return quantile_bounds(predictions, quantiles, calibration, level)
        return bounds(predictions, calibration, level)

    def quantile_features(self, features: PreparedFeatures) -> np.ndarray:
        """The interval network's quantiles ``[rows, QUANTILE_LEVELS]`` in target units."""
        network = getattr(self, "quantile_network_", None)
        if network is None:
            raise ConfigError(
                "this model has no quantile network; train it with interval_method='quantile'"
            )
        output = predict(network, _inputs(features)).reshape(len(features), -1)
        return network.to_target_units(output).numpy()

    def interval_calibration(self, level: float) -> Calibration:
        """The calibration behind intervals at ``level``, or a ConfigError saying why not."""
        self._check_fitted()
        level = check_level(level)
        calibration: Calibration | None = getattr(self, "calibration_", None)
        if calibration is None:
            raise ConfigError(
                "this model has no prediction intervals: it was fitted without held-out "
                "validation rows to calibrate them on (patience=None and no X_val, or "
                "validation_fraction=0), or saved by a deepfit without intervals; refit it "
                "with early stopping or with X_val, y_val"
            )
        calibration.quantile(level)  # a level too high for the calibration rows: ConfigError
        return calibration

    def predict_features(self, features: PreparedFeatures) -> np.ndarray:
        """Predictions for rows already prepared by ``self.preprocessor_``."""
        self._check_fitted()
        network: TabularNetwork = self.network_
        return network.to_target_units(predict(network, _inputs(features))).numpy()

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "this Regressor is not fitted yet; call fit(X, y) first or load a saved model"
            )

    # ---------------------------------------------------------------------------- input
    def _as_frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """Features as a DataFrame, checked against what the model was fitted on."""
        if _is_dataframe(X):
            if reset:
                validate_data(self, X, reset=True, skip_check_array=True)
            frame = read_table(X)
            if len(frame) == 0:
                raise DataError("the data has 0 rows (0 samples); provide at least one row")
            return frame
        array = validate_data(self, X, reset=reset, dtype="numeric", ensure_all_finite="allow-nan")
        names = getattr(self, "feature_names_in_", None)
        columns = (
            [str(n) for n in names]
            if names is not None
            else [f"x{i}" for i in range(array.shape[1])]
        )
        return pd.DataFrame(array, columns=columns)

    # --------------------------------------------------------------------------- saving
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the fitted model to one ``.deepfit`` file (atomically; no pickle)."""
        from deepfit.artifact import save

        return save(self, path, overwrite=overwrite)


def _same(value: Any, default: Any) -> bool:
    """Whether a parameter still holds its default (tuples and lists of equal items match)."""
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return list(value) == list(default)
    return bool(type(value) is type(default) and value == default)


def _is_dataframe(X: Any) -> bool:
    return isinstance(X, pd.DataFrame) or type(X).__module__.startswith("polars")


def _load_base(path: str | Path) -> Regressor:
    """The saved model that fine-tuning starts from."""
    from deepfit.artifact import load

    return load(path)


def _check_same_columns(
    frame: pd.DataFrame, schema: Schema, roles: dict[str, str] | None, source: str
) -> None:
    """Refuse data whose feature columns or roles differ from the model being fine-tuned."""
    known = {column.name: column.role for column in schema.columns}
    missing = [name for name in schema.feature_names if name not in frame.columns]
    extra = [str(name) for name in frame.columns if name not in known]
    problems = []
    if missing:
        problems.append("it lacks " + ", ".join(f"'{name}'" for name in missing))
    if extra:
        problems.append("it has new column(s) " + ", ".join(f"'{name}'" for name in extra))
    if not problems:
        inferred = {c.name: c for c in infer_schema(frame, roles=roles, target=None).columns}
        for name in schema.feature_names:
            now = inferred[name]
            auto_dropped = now.role == "drop" and now.reason != "chosen by the user"
            if now.role != known[name] and not auto_dropped:
                problems.append(f"'{name}' is {now.role}, not {known[name]}")
    if problems:
        raise DataError(
            f"the data does not match the model in {source}: {'; '.join(problems)}; "
            "fine-tuning needs its feature columns with the same roles, so make the data match "
            "(or set the roles), or train from scratch without init_from (--init-from)"
        )


def _train_only_last(network: nn.Module, count: int) -> None:
    """Freeze every parameter except those of the last ``count`` linear layers."""
    linear = [module for module in network.modules() if isinstance(module, nn.Linear)]
    if count > len(linear):
        raise ConfigError(
            f"train_last={count}, but the network has {len(linear)} linear layer(s); "
            f"choose 1 to {len(linear)}, or None to train everything"
        )
    network.requires_grad_(False)
    for layer in linear[-count:]:
        layer.requires_grad_(True)


def _target_name(y: Any) -> str:
    name = getattr(y, "name", None)
    return str(name) if name is not None and not isinstance(y, np.ndarray) else "target"


def _bootstrap(data: InMemorySource, seed: int) -> InMemorySource:
    """A seeded bootstrap resample of ``data``'s rows (as many, drawn with replacement)."""
    drawn = np.random.default_rng([BOOTSTRAP_STREAM, seed]).integers(0, len(data), len(data))
    return data.subset(torch.tensor(np.sort(drawn)))


def _inputs(features: PreparedFeatures) -> InMemorySource:
    """Prepared rows as a source of network inputs (no target), on the CPU."""
    return InMemorySource(
        {
            "numeric": torch.tensor(features.numeric),
            "categorical": torch.tensor(features.categorical),
        }
    )


def _member_summary(state: TrainState) -> dict[str, Any]:
    """One ensemble member's line in ``training_summary_["members"]``."""
    return {
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "best_validation_loss": state.best_validation_loss,
        "seconds": round(state.seconds, 3),
    }


def _tensors(
    preprocessor: TabularPreprocessor,
    scaler: TargetScaler,
    frame: pd.DataFrame,
    target: np.ndarray,
    device: torch.device,
) -> InMemorySource:
    """Prepared features and the standardised target, as tensors on ``device``."""
    features = preprocessor.transform(frame)
    return InMemorySource(
        {
            "numeric": torch.tensor(features.numeric, device=device),
            "categorical": torch.tensor(features.categorical, device=device),
            "target": torch.tensor(scaler.transform(target), dtype=torch.float32, device=device),
        }
    )
