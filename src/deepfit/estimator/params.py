"""Every estimator parameter, declared once: name, default, allowed values, help.

``Regressor`` and ``Classifier`` take these as keyword arguments; :func:`check_params` checks
them all at the start of ``fit`` (so a misspelt loss fails at once, not deep in training);
the command line builds its options from the same table (:mod:`deepfit.cli.options`); and
:mod:`deepfit.estimator.auto` resolves the ones left at ``"auto"``.

``"auto"`` means "deepfit decides": under ``model="auto"`` the auto recipe chooses (see
:mod:`deepfit.estimator.auto`), and otherwise the parameter's ``fallback`` applies. A value
given explicitly is never replaced, even when it equals what auto would choose.

Example:
    >>> PARAMS["learning_rate"].default, PARAMS["learning_rate"].fallback
    ('auto', 0.001)
    >>> check_params({"learning_rate": -1.0}, "regression")
    Traceback (most recent call last):
    ...
    deepfit.errors.ConfigError: learning_rate must be 'auto' or a positive number, however: -1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deepfit.data.target import TARGET_TRANSFORMS
from deepfit.errors import ConfigError
from deepfit.estimator.rules import (
    Boolean,
    Choice,
    Device,
    Frequency,
    Integer,
    Names,
    Number,
    Options,
    PathRule,
    Roles,
    Rule,
    Seed,
    Weights,
    Widths,
)
from deepfit.kinds.image.augment import AUGMENTATIONS
from deepfit.kinds.image.decode import RESIZES
from deepfit.models.convnet import IMAGE_MODELS
from deepfit.models.inputs import DEFAULT_CLIP
from deepfit.models.mlp import ACTIVATIONS
from deepfit.models.numeric_embeddings import NUMERIC_EMBEDDINGS
from deepfit.models.registry import MODELS
from deepfit.models.sequence import SEQUENCE_MODELS
from deepfit.training.losses import REGRESSION_LOSSES
from deepfit.training.optim import OPTIMIZERS, SCHEDULES
from deepfit.training.precision import PRECISIONS

AUTO = "auto"
REGRESSION = ("regression",)
CLASSIFICATION = ("classification",)
BOTH = ("regression", "classification")
FORECASTING = ("forecasting",)
IMAGE = ("image",)  # regression from pictures: the image kind's estimator
TASKS = (*BOTH, *FORECASTING, *IMAGE)


@dataclass(frozen=True)
class Param:
    """One parameter of the estimators.

    ``auto``: the string ``"auto"`` is allowed and resolved as the module docstring says;
    ``fallback`` is its value when the auto recipe does not decide it (a callable gets the
    training rows). ``nullable``: None is allowed (``none`` on the command line). ``flag``:
    the command-line option (``""`` for none, e.g. a parameter the CLI sets another way).
    """

    name: str
    default: Any
    rule: Rule
    help: str
    auto: bool = False
    fallback: Any = None
    nullable: bool = False
    tasks: tuple[str, ...] = BOTH
    flag: str | None = None
    none_means: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def option(self) -> str:
        """The command-line option, e.g. ``--learning-rate``; empty when there is none."""
        return self.flag if self.flag is not None else "--" + self.name.replace("_", "-")

    @property
    def allowed(self) -> str:
        """What the parameter allows, in words."""
        return self._allowed(self.rule.text)

    @property
    def allowed_in_shell(self) -> str:
        """What the command-line option allows, in words."""
        return self._allowed(self.rule.shell_text).replace("None", "none")

    def _allowed(self, rule_text: str) -> str:
        parts = ["'auto'"] if self.auto else []
        parts.append(rule_text)
        if self.nullable:
            parts.append("None" + (f" ({self.none_means})" if self.none_means else ""))
        return " or ".join(parts)

    def allows(self, value: Any) -> bool:
        return (
            (self.auto and value == AUTO)
            or (self.nullable and value is None)
            or self.rule.allows(value)
        )

    def resolve_fallback(self, n_rows: int) -> Any:
        return self.fallback(n_rows) if callable(self.fallback) else self.fallback


def auto_batch_size(n_rows: int) -> int:
    """``batch_size="auto"``: 64 rows for small data, doubling up to 512 (>= 32 steps/epoch).

    Example:
        >>> [auto_batch_size(n) for n in (500, 8_000, 50_000)]
        [64, 128, 512]
    """
    return int(min(512, max(64, 2 ** round(math.log2(max(n_rows, 1) / 64)))))


def image_batch_size(n_images: int) -> int:
    """``batch_size="auto"`` of an image model: 32, 64 or 128 images as the data grows.

    Example:
        >>> [image_batch_size(n) for n in (300, 1_000, 5_000)]
        [32, 64, 128]
    """
    return 32 if n_images < 500 else 64 if n_images < 2_000 else 128


_SPECS: tuple[Param, ...] = (
    Param("model", AUTO, Choice(tuple(MODELS)), "Network architecture; auto: deepfit picks "
          "it and its training recipe from the data (TabM over piecewise-linear embeddings).",
          auto=True, fallback="mlp"),
    Param("hidden_layers", AUTO, Widths(), "Hidden-layer widths, e.g. 256,256.",
          auto=True, fallback=(256, 256, 256)),
    Param("activation", "relu", Choice(tuple(ACTIVATIONS)), "Activation of the hidden layers."),
    Param("dropout", AUTO, Number(0.0, 1.0), "Dropout after each hidden layer.",
          auto=True, fallback=0.1),
    Param("norm", None, Choice(("batch", "layer")), "Normalisation of the hidden layers.",
          nullable=True, none_means="no normalisation"),
    Param("loss", "mse", Choice(REGRESSION_LOSSES), "Training loss.", tasks=REGRESSION),
    Param("huber_delta", 1.0, Number(0.0, open_low=True),
          "Huber loss threshold, in target standard deviations.", tasks=REGRESSION),
    Param("target_transform", AUTO, Choice(TARGET_TRANSFORMS), "log: learn the logarithm "
          "of a positive, skewed target (prices, wages), which weighs relative errors alike: "
          "a lower MAPE, usually a higher RMSE; log_link: learn it, scored by squared error "
          "in the target's units and in logs; auto: log_link for a positive, right-skewed "
          "target under model auto.", tasks=REGRESSION, auto=True, fallback="none"),
    Param("label_smoothing", 0.0, Number(0.0, 1.0),
          "Cross-entropy label smoothing (0: none).", tasks=CLASSIFICATION),
    Param("class_weight", None, Weights(), "balanced: weight each class by the inverse of its "
          "frequency, for imbalanced labels.", nullable=True, none_means="equal weights",
          tasks=CLASSIFICATION),
    Param("optimizer", "adamw", Choice(OPTIMIZERS), "Optimiser (sgd uses Nesterov momentum)."),
    Param("learning_rate", AUTO, Number(0.0, open_low=True), "Learning rate.",
          auto=True, fallback=1e-3, aliases=("--lr",)),
    Param("weight_decay", AUTO, Number(0.0), "Decoupled weight decay (adamw) or L2 (others).",
          auto=True, fallback=1e-5),
    Param("momentum", 0.9, Number(0.0, 1.0), "Momentum of sgd and rmsprop."),
    Param("schedule", AUTO, Choice(SCHEDULES), "Learning-rate schedule.",
          auto=True, fallback="cosine"),
    Param("l1", 0.0, Number(0.0), "L1 penalty on the weights."),
    Param("l2", 0.0, Number(0.0), "L2 penalty on the weights (with l1: elastic net)."),
    Param("batch_size", AUTO, Integer(1), "Rows per step; auto: 64 to 512, growing with the "
          "data.", auto=True, fallback=auto_batch_size),
    Param("max_epochs", AUTO, Integer(1), "Most epochs of training.",
          auto=True, fallback=200),
    Param("patience", AUTO, Integer(0), "Epochs without improvement before early stopping "
          "(0: none).", auto=True, fallback=20, nullable=True, none_means="no early stopping"),
    Param("validation_fraction", 0.15, Number(0.0, 1.0), "Share of the rows held out for early "
          "stopping and calibration when no validation set is given."),
    Param("time_limit", AUTO, Number(0.0, open_low=True), "Seconds of training; auto: 240 "
          "under model auto.", auto=True, fallback=None, nullable=True, none_means="no limit"),
    Param("clip", AUTO, Number(0.0, open_low=True), "Scaled numeric inputs are smoothly "
          "clipped to (-clip, clip).", auto=True, fallback=DEFAULT_CLIP),
    Param("min_category_count", 2, Integer(1), "Categories seen fewer times share the "
          "'unknown' embedding."),
    Param("column_roles", None, Roles(), "Override inferred column roles.", nullable=True,
          flag=""),
    Param("device", "auto", Device(), "auto (a GPU when present), cpu or cuda."),
    Param("precision", "auto", Choice(PRECISIONS), "Number format of the training steps: "
          "fp32, bf16 (bfloat16 autocast; weights and predictions stay float32), or auto: bf16 "
          "where the GPU or CPU runs it faster, else fp32.", tasks=TASKS),
    Param("random_state", 0, Seed(), "Seed of the split, initialisation and batch order.",
          nullable=True, none_means="a fresh seed", flag=""),
    Param("verbose", 0, Integer(0), "1 draws a progress bar on standard error.", flag=""),
    Param("checkpoint_dir", None, PathRule(), "Save the whole training state here every "
          "--checkpoint-every epochs, to continue it with --resume.", nullable=True),
    Param("checkpoint_every", 1, Integer(1), "Epochs between checkpoints."),
    Param("init_from", None, PathRule(), "Fine-tune this saved model: its columns, "
          "preprocessing, architecture and weights; training settings from here.",
          nullable=True),
    Param("train_last", None, Integer(1), "With --init-from: train only the last K linear "
          "layers.", nullable=True, none_means="train everything"),
    Param("n_ensemble", 1, Integer(1), "Train K networks (seeds SEED..SEED+K-1) and average "
          "them; --time-limit is for all K together.", flag="--ensemble"),
    Param("bootstrap", False, Boolean(), "With --ensemble: train each member on a bootstrap "
          "resample."),
    Param("numeric_embedding", AUTO, Choice(NUMERIC_EMBEDDINGS), "Embed numeric features: "
          "periodic (PLR) or piecewise (quantile bins).", auto=True, fallback=None,
          nullable=True, none_means="feed the scaled values"),
    Param("model_options", AUTO, Options(), "An architecture setting KEY=VALUE, e.g. k=16 "
          "(repeatable).", auto=True, fallback=None, nullable=True, flag="--model-option"),
    Param("interval_method", "conformal", Choice(("conformal", "quantile")), "Prediction "
          "intervals: conformal (one width) or quantile (a width per row; a second network).",
          tasks=REGRESSION),
    Param("interval_method", "lac", Choice(("lac", "aps")), "Prediction sets: lac (smallest "
          "sets) or aps (adaptive: larger sets where the model is unsure).",
          tasks=CLASSIFICATION),
    # The forecaster's (``deepfit train --time``): a window of past steps in, the horizon out.
    Param("horizon", 1, Integer(1), "Steps to forecast after the end of each series.",
          tasks=FORECASTING),
    Param("lookback", AUTO, Integer(1), "Past steps each forecast reads; auto: a week of "
          "sub-daily steps, 8 weeks of days, a year of weeks, 3 years of months.",
          auto=True, fallback=None, tasks=FORECASTING),
    Param("model", AUTO, Choice(SEQUENCE_MODELS), "Forecasting network over the lookback "
          "window; auto: mlp, the fastest (see benchmarks/results/forecast.md).", auto=True,
          fallback="mlp", tasks=FORECASTING),
    Param("frequency", None, Frequency(), "Step of the series, e.g. 30min, h, D, MS.",
          nullable=True, none_means="inferred from the timestamps", tasks=FORECASTING),
    Param("hidden", AUTO, Integer(1), "Width of the forecasting network's layers; auto: 256 "
          "for mlp, 64 for lstm, gru and tcn (a step of an LSTM of 256 takes 3 s on a CPU core).",
          auto=True, fallback=None, tasks=FORECASTING),
    Param("layers", 2, Integer(1), "Depth of the forecasting network (hidden or recurrent "
          "layers).", tasks=FORECASTING),
    Param("dropout", AUTO, Number(0.0, 1.0), "Dropout in the forecasting network.",
          auto=True, fallback=0.1, tasks=FORECASTING),
    Param("loss", "mae", Choice(REGRESSION_LOSSES), "Training loss on each series' scaled "
          "target.", tasks=FORECASTING),
    Param("learning_rate", AUTO, Number(0.0, open_low=True), "Learning rate.",
          auto=True, fallback=1e-3, aliases=("--lr",), tasks=FORECASTING),
    Param("weight_decay", AUTO, Number(0.0), "Decoupled weight decay (adamw).",
          auto=True, fallback=1e-5, tasks=FORECASTING),
    Param("batch_size", AUTO, Integer(1), "Windows per step; auto: 64 to 512, growing with the "
          "data.", auto=True, fallback=auto_batch_size, tasks=FORECASTING),
    Param("max_epochs", AUTO, Integer(1), "Most epochs of training.", auto=True,
          fallback=200, tasks=FORECASTING),
    Param("patience", AUTO, Integer(0), "Epochs without improvement before early stopping "
          "(0: none).", auto=True, fallback=10, nullable=True, none_means="no early stopping",
          tasks=FORECASTING),
    Param("time_limit", AUTO, Number(0.0, open_low=True), "Seconds of training; auto: 240.",
          auto=True, fallback=240.0, nullable=True, none_means="no limit", tasks=FORECASTING),
    Param("device", "auto", Device(), "auto (a GPU when present), cpu or cuda.",
          tasks=FORECASTING),
    Param("random_state", 0, Seed(), "Seed of the initialisation and batch order.",
          nullable=True, none_means="a fresh seed", flag="", tasks=FORECASTING),
    Param("verbose", 0, Integer(0), "1 draws a progress bar on standard error.", flag="",
          tasks=FORECASTING),
    # The image regressor's (``deepfit train FOLDER --labels``): pictures in, a number out.
    Param("image_size", AUTO, Integer(8), "Side of the square the images are resized to; auto: "
          "the median shorter side of the training images, from 16 to 64.", auto=True,
          fallback=None, tasks=IMAGE),
    Param("resize", "pad", Choice(RESIZES), "Fit each image to the square keeping its aspect "
          "ratio: pad (black borders; keeps everything, e.g. for counts) or crop (the centre).",
          tasks=IMAGE),
    Param("model", AUTO, Choice(IMAGE_MODELS), "Image network; auto: the plain cnn below "
          "20,000 training images, else the ResNet-18 layout, sized to train 20 epochs in the "
          "time limit.", auto=True, fallback="cnn", tasks=IMAGE),
    Param("width", AUTO, Integer(1), "Channels of the network's first stage (doubling at "
          "each later stage).", auto=True, fallback=32, tasks=IMAGE),
    Param("stem_stride", AUTO, Integer(1), "Stride of the network's first convolution: 1, 2 "
          "or 4; auto: the smallest that leaves the first stage at most 40 pixels a "
          "side, doubled when that is needed to train enough epochs in the time limit.",
          auto=True, fallback=None, tasks=IMAGE),
    Param("augment", (), Names(AUGMENTATIONS), "Training augmentations that keep the target "
          "true, e.g. flip,shift (a flip changes an angle; a crop changes a count).",
          tasks=IMAGE),
    Param("dropout", AUTO, Number(0.0, 1.0), "Dropout before the output layer.", auto=True,
          fallback=0.0, tasks=IMAGE),
    Param("loss", "mse", Choice(REGRESSION_LOSSES), "Training loss on the standardised "
          "target.", tasks=IMAGE),
    Param("learning_rate", AUTO, Number(0.0, open_low=True), "Learning rate (adamw).",
          auto=True, fallback=2e-3, aliases=("--lr",), tasks=IMAGE),
    Param("weight_decay", AUTO, Number(0.0), "Decoupled weight decay (adamw).", auto=True,
          fallback=5e-4, tasks=IMAGE),
    Param("batch_size", AUTO, Integer(1), "Images per step; auto: 32 below 500 images, 64 "
          "below 2,000, else 128 (a third faster per image than 64 on a CPU).", auto=True,
          fallback=image_batch_size, tasks=IMAGE),
    Param("max_epochs", AUTO, Integer(1), "Most epochs of training.", auto=True,
          fallback=100, tasks=IMAGE),
    Param("patience", AUTO, Integer(0), "Epochs without improvement before early stopping "
          "(0: none); half as many start the learning rate's final decay.", auto=True,
          fallback=30, nullable=True, none_means="no early stopping", tasks=IMAGE),
    Param("validation_fraction", 0.15, Number(0.0, 1.0), "Share of the images held out for "
          "early stopping and interval calibration.", tasks=IMAGE),
    Param("time_limit", AUTO, Number(0.0, open_low=True), "Seconds of training; auto: 240.",
          auto=True, fallback=240.0, nullable=True, none_means="no limit", tasks=IMAGE),
    Param("init_from", None, PathRule(), "Start from this image model's backbone (its "
          "architecture and weights) with a fresh output layer.", nullable=True, tasks=IMAGE),
    Param("freeze_backbone", False, Boolean(), "With --init-from: train only the output "
          "layer.", tasks=IMAGE),
    Param("checkpoint_dir", None, PathRule(), "Save the whole training state here every "
          "--checkpoint-every epochs, to continue it with --resume.", nullable=True, tasks=IMAGE),
    Param("checkpoint_every", 1, Integer(1), "Epochs between checkpoints.", tasks=IMAGE),
    Param("device", "auto", Device(), "auto (a GPU when present), cpu or cuda.", tasks=IMAGE),
    Param("random_state", 0, Seed(), "Seed of the split, initialisation, batch order and "
          "augmentation.", nullable=True, none_means="a fresh seed", flag="", tasks=IMAGE),
    Param("verbose", 0, Integer(0), "1 draws a progress bar on standard error.", flag="",
          tasks=IMAGE),
)  # fmt: skip

PARAMS_BY_TASK: dict[str, dict[str, Param]] = {
    task: {spec.name: spec for spec in _SPECS if task in spec.tasks} for task in TASKS
}
PARAMS: dict[str, Param] = {**PARAMS_BY_TASK["classification"], **PARAMS_BY_TASK["regression"]}
# Settings that shape the network; fine-tuning keeps the saved model's.
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


def params_for(task: str) -> dict[str, Param]:
    """The parameters of the estimator for ``task``, in declaration order."""
    return PARAMS_BY_TASK[task]


def all_params() -> list[Param]:
    """Every declared parameter, including the per-task variants of one name."""
    return list(_SPECS)


def check_params(values: Mapping[str, Any], task: str) -> None:
    """Raise a ConfigError naming the first parameter in ``values`` whose value is not allowed.

    Names that are not parameters of the ``task`` estimator are refused too.
    """
    table = params_for(task)
    for name, value in values.items():
        spec = table.get(name)
        if spec is None:
            raise ConfigError(
                f"{name} is not a parameter of the {task} estimator; the parameters are: "
                + ", ".join(table)
            )
        if not spec.allows(value):
            raise ConfigError(f"{name} must be {spec.allowed}, however: {value!r}")


def defaults(task: str) -> dict[str, Any]:
    """Every parameter of the ``task`` estimator at its default."""
    return {name: spec.default for name, spec in params_for(task).items()}
