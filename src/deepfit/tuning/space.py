"""Search spaces by model name: what the tuner may change, and where the defaults sit in it.

A space is two functions: ``suggest(trial, base)`` draws :class:`~deepfit.Regressor`
settings from an Optuna trial, and ``default(base)`` gives the trial parameters that stand
for the base settings, so trial 0 of every study is "the defaults" and the search can be
compared with them. A new architecture in :mod:`deepfit.models.registry` adds one entry to
``SPACES``.

The loss is deliberately not searched: the validation loss that pruning compares between
trials must mean the same thing in every trial.

Example:
    >>> import optuna
    >>> space = SPACES["mlp"]
    >>> trial = optuna.trial.FixedTrial(space.default({"hidden_layers": (64, 64)}))
    >>> space.suggest(trial, {"hidden_layers": (64, 64)})["hidden_layers"]
    (64, 64)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optuna.trial import BaseTrial

from deepfit.errors import ConfigError
from deepfit.estimator.auto import DataShape, resolve
from deepfit.estimator.params import AUTO

Choice = None | bool | int | float | str

ACTIVATIONS: tuple[str, ...] = ("relu", "gelu", "silu", "leaky_relu", "elu", "mish")
NORMS: tuple[Choice, ...] = (None, "batch", "layer")
BATCH_SIZES: tuple[Choice, ...] = ("auto", 64, 128, 256, 512)
DEPTH = (1, 4)
WIDTH = (16, 1024)
DROPOUT = (0.0, 0.5)
LEARNING_RATE = (1e-4, 3e-2)
WEIGHT_DECAY = (1e-7, 1e-2)


@dataclass(frozen=True)
class SearchSpace:
    """How to draw a model's settings from a trial, and the trial values of the defaults."""

    suggest: Callable[[BaseTrial, dict[str, Any]], dict[str, Any]]
    default: Callable[[dict[str, Any]], dict[str, Any]]


def base_settings(
    params: dict[str, Any], task: str = "regression", shape: DataShape | None = None
) -> dict[str, Any]:
    """Every parameter of the ``task``'s estimator: the value in ``params``, or what
    ``deepfit train`` would use on data of ``shape``. Without a ``model`` that is auto's
    recipe, resolved to the network it names (TabM, ``ensemble``), so trial 0 of a search is
    the model ``train`` gives and the search space sits around it. ``batch_size="auto"``
    stays a choice of its own.

    Example:
        >>> base_settings({}, shape=DataShape(20_000))["model"]
        'ensemble'
    """
    given = {"model": AUTO, **params}
    settings = resolve(given, shape or DataShape(n_rows=1), task).settings
    settings["batch_size"] = given.get("batch_size", AUTO)
    return settings


def choices(options: tuple[Choice, ...], base: Choice) -> tuple[Choice, ...]:
    """``options``, plus the base value at the end when it is not one of them."""
    return options if base in options else (*options, base)


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(float(value), bounds[0]), bounds[1])


def _mlp_suggest(trial: BaseTrial, base: dict[str, Any]) -> dict[str, Any]:
    settings = {**_defaults(), **base}
    depth = trial.suggest_int("depth", *DEPTH)
    width = trial.suggest_int("width", *WIDTH, log=True)
    return {
        "hidden_layers": (width,) * depth,
        "activation": trial.suggest_categorical(
            "activation", choices(ACTIVATIONS, settings["activation"])
        ),
        "dropout": trial.suggest_float("dropout", *DROPOUT),
        "norm": trial.suggest_categorical("norm", choices(NORMS, settings["norm"])),
        "learning_rate": trial.suggest_float("learning_rate", *LEARNING_RATE, log=True),
        "weight_decay": trial.suggest_float("weight_decay", *WEIGHT_DECAY, log=True),
        "batch_size": trial.suggest_categorical(
            "batch_size", choices(BATCH_SIZES, settings["batch_size"])
        ),
    }


def _mlp_default(base: dict[str, Any]) -> dict[str, Any]:
    """The trial values nearest the base settings (non-uniform widths: the widest layer)."""
    settings = {**_defaults(), **base}
    widths = [int(width) for width in settings["hidden_layers"]]
    return {
        "depth": int(_clamp(len(widths), DEPTH)),
        "width": int(_clamp(max(widths), WIDTH)),
        "activation": settings["activation"],
        "dropout": _clamp(settings["dropout"], DROPOUT),
        "norm": settings["norm"],
        "learning_rate": _clamp(settings["learning_rate"], LEARNING_RATE),
        "weight_decay": _clamp(settings["weight_decay"], WEIGHT_DECAY),
        "batch_size": settings["batch_size"],
    }


def _defaults() -> dict[str, Any]:
    return base_settings({"model": "mlp"})


ENSEMBLE_SIZES: tuple[Choice, ...] = (8, 16, 32)
NUMERIC_EMBEDDINGS: tuple[Choice, ...] = (None, "piecewise", "periodic")


def _ensemble_suggest(trial: BaseTrial, base: dict[str, Any]) -> dict[str, Any]:
    """TabM: width, depth, activation and training settings as the MLP's (TabM has no norm),
    the number of members and the numeric embedding."""
    settings = {**_defaults(), **base}
    depth = trial.suggest_int("depth", *DEPTH)
    width = trial.suggest_int("width", *WIDTH, log=True)
    size = trial.suggest_categorical("k", choices(ENSEMBLE_SIZES, _members(settings)))
    return {
        "hidden_layers": (width,) * depth,
        "activation": trial.suggest_categorical(
            "activation", choices(ACTIVATIONS, settings["activation"])
        ),
        "dropout": trial.suggest_float("dropout", *DROPOUT),
        "learning_rate": trial.suggest_float("learning_rate", *LEARNING_RATE, log=True),
        "weight_decay": trial.suggest_float("weight_decay", *WEIGHT_DECAY, log=True),
        "batch_size": trial.suggest_categorical(
            "batch_size", choices(BATCH_SIZES, settings["batch_size"])
        ),
        "model_options": {**(settings["model_options"] or {}), "k": size},
        "numeric_embedding": trial.suggest_categorical(
            "numeric_embedding", choices(NUMERIC_EMBEDDINGS, settings["numeric_embedding"])
        ),
    }


def _ensemble_default(base: dict[str, Any]) -> dict[str, Any]:
    settings = {**_defaults(), **base}
    point = _mlp_default(base)
    point.pop("norm")
    return point | {"k": _members(settings), "numeric_embedding": settings["numeric_embedding"]}


def _members(settings: dict[str, Any]) -> int:
    return int((settings["model_options"] or {}).get("k", 32))


SPACES: dict[str, SearchSpace] = {
    "mlp": SearchSpace(_mlp_suggest, _mlp_default),
    "resnet": SearchSpace(_mlp_suggest, _mlp_default),  # one width repeated: what resnet takes
    "ensemble": SearchSpace(_ensemble_suggest, _ensemble_default),
}


def search_space(model: str) -> SearchSpace:
    """The search space of the model ``model``, or a ConfigError naming those there are."""
    if model not in SPACES:
        raise ConfigError(
            f"there is no search space for model {model!r}; tuning knows: {', '.join(SPACES)}"
        )
    return SPACES[model]
