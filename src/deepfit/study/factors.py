"""The factors a study can vary, and how each value becomes estimator settings or a data change.

A factor value becomes a :class:`Level`: a label for the tables, a value for the plot's x-axis,
the settings it gives the task's estimator (``Regressor`` or ``Classifier``), and optionally a
change to the data (the feature columns kept, or how many training rows are used). Named
factors:

* ``learning_rate``, ``activation``, ``model`` (a name from ``deepfit.models.MODELS``);
* ``width``: every hidden layer that wide, the held depth kept;
* ``depth``: that many hidden layers, the held width (the first hidden layer's) kept;
* ``hidden_layers``: whole architectures, ``256x256`` (or ``256,256`` through ``--set``);
* ``max_epochs``: with ``patience=None``, so the run really trains that many epochs;
* ``regularization``: ``none``, ``l1``, ``l2``, ``elastic_net``, ``dropout``
  (see :data:`REGULARIZATION`; each level switches the others, weight decay included, off);
* ``train_size``: a fraction (``0.25``) or a row count (``100``) of the training split; the
  validation and test rows stay the same;
* ``features``: columns joined by ``+`` (``x1+x2``), ``drop:colour`` (``drop:a+b``), or ``all``;
* any other parameter of the task's estimator by its own name (``batch_size``, ``norm``;
  ``loss`` for regression, ``label_smoothing`` or ``class_weight`` for classification), its
  value read as an int, a float, ``none``/``true``/``false``, or else a string.

Example:
    >>> held = {"hidden_layers": (4, 4)}
    >>> [level.settings for level in parse_levels("width", ["8", "16"], held, task="regression")]
    [{'hidden_layers': (8, 8)}, {'hidden_layers': (16, 16)}]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from deepfit.errors import ConfigError
from deepfit.estimator import estimator_for
from deepfit.estimator.params import AUTO, PARAMS, params_for
from deepfit.models.registry import MODELS

# Strengths chosen for penalties summed over all weights (training/optim.py) next to a loss
# on the standardised target: the values the README suggests for --l1/--l2, and a common
# dropout rate. Each level sets all four, so only the named regulariser acts.
REGULARIZATION: dict[str, dict[str, float]] = {
    "none": {"l1": 0.0, "l2": 0.0, "dropout": 0.0, "weight_decay": 0.0},
    "l1": {"l1": 1e-5, "l2": 0.0, "dropout": 0.0, "weight_decay": 0.0},
    "l2": {"l1": 0.0, "l2": 1e-4, "dropout": 0.0, "weight_decay": 0.0},
    "elastic_net": {"l1": 1e-5, "l2": 1e-4, "dropout": 0.0, "weight_decay": 0.0},
    "dropout": {"l1": 0.0, "l2": 0.0, "dropout": 0.2, "weight_decay": 0.0},
}

FACTORS: dict[str, str] = {
    "learning_rate": "optimiser step size, e.g. 0.001,0.01,0.1",
    "width": "units in every hidden layer (depth held), e.g. 32,128,512",
    "depth": "number of hidden layers (width held), e.g. 1,2,4",
    "hidden_layers": "whole architectures, e.g. 256x256,512x512x512",
    "activation": "e.g. relu,gelu,tanh",
    "max_epochs": "training length with early stopping off, e.g. 10,50,200",
    "regularization": f"one of {','.join(REGULARIZATION)}",
    "model": f"architecture: {','.join([AUTO, *MODELS])}",
    "train_size": "fraction or row count of the training split, e.g. 0.25,0.5,1",
    "features": "columns kept, e.g. x1+x2,drop:colour,all",
}

# Estimator parameters a study sets itself, or that make no sense to vary across runs.
NOT_VARIED = ("random_state", "verbose", "checkpoint_dir", "checkpoint_every")


@dataclass(frozen=True)
class Level:
    """One value of a factor: what it sets in the estimator, and what it does to the data."""

    label: str
    value: Any
    settings: dict[str, Any] = field(default_factory=dict)
    keep: tuple[str, ...] | None = None  # feature columns kept (None: all)
    drop: tuple[str, ...] = ()  # feature columns dropped
    train_size: float | int | None = None  # fraction (float) or rows (int) of the train split


def known_factors(task: str) -> list[str]:
    """The named factors followed by every other parameter of ``task``'s estimator a study
    can vary."""
    return [*FACTORS, *(name for name in estimator_params(task) if name not in FACTORS)]


def estimator_params(task: str) -> dict[str, Any]:
    """The parameters of ``task``'s estimator a study may set, with their defaults.

    Example:
        >>> "label_smoothing" in estimator_params("classification")
        True
        >>> "label_smoothing" in estimator_params("regression")
        False
    """
    return {name: spec.default for name, spec in params_for(task).items() if name not in NOT_VARIED}


def check_factor(name: str, task: str) -> None:
    """Raise a one-line ConfigError naming the known factors when ``name`` is not one."""
    parameters = estimator_params(task)
    if name not in FACTORS and name not in parameters:
        others = ", ".join(n for n in parameters if n not in FACTORS)
        raise ConfigError(
            f"unknown factor {name!r}; the known factors are: {', '.join(FACTORS)}, or any "
            f"{estimator_for(task).__name__} parameter ({others})"
        )


def split_values(text: str) -> list[str]:
    """``"0.1,1,10"`` -> ``["0.1", "1", "10"]`` (``hidden_layers`` widths use ``x``)."""
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise ConfigError(f"no values given in {text!r}; write e.g. learning_rate=0.01,0.1")
    return values


def name_value_pairs(options: list[str], flag: str) -> list[tuple[str, str]]:
    """``["a=1,2", "b=x"]`` -> ``[("a", "1,2"), ("b", "x")]``; a one-line ConfigError naming
    ``flag`` (``--vary``, ``--set``) for an option that is not NAME=VALUE."""
    found = []
    for option in options:
        name, equals, value = option.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise ConfigError(
                f"{flag} expects NAME=VALUE, e.g. learning_rate=0.01,0.1; got {option!r}"
            )
        found.append((name.strip(), value.strip()))
    return found


def parse_levels(name: str, values: list[Any], held: dict[str, Any], *, task: str) -> list[Level]:
    """The :class:`Level` of each value of factor ``name``, given the ``held`` settings.

    ``values`` are strings (from the command line) or Python values. ``held`` matters for
    ``width`` and ``depth``, which keep the other dimension of ``hidden_layers``. ``task``
    (``"regression"`` or ``"classification"``) says which estimator's parameters are factors.
    """
    check_factor(name, task)
    if not values:
        raise ConfigError(f"factor {name!r} needs at least one value")
    levels = [parse_level(name, value, held) for value in values]
    labels = [level.label for level in levels]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"factor {name!r} has a repeated value: {', '.join(labels)}")
    return levels


def parse_level(name: str, value: Any, held: dict[str, Any]) -> Level:
    """One value of factor ``name`` as a :class:`Level` (see :func:`parse_levels`)."""
    label = _label(value)
    try:
        return _LEVEL_PARSERS.get(name, _parameter)(name, value, label, held)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        hint = FACTORS.get(name, "a value of that parameter")
        raise ConfigError(f"bad value {label!r} for factor {name!r}; expected {hint}") from None


def held_hidden_layers(held: dict[str, Any]) -> tuple[int, ...]:
    """The held architecture's widths; when none is held (``"auto"``), the plain default's,
    which ``width`` and ``depth`` vary one dimension of."""
    layers = held.get("hidden_layers", AUTO)
    if layers == AUTO:
        layers = PARAMS["hidden_layers"].fallback
    return tuple(int(width) for width in layers)


def _label(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "x".join(str(part) for part in value)
    return str(value)


def _positive_int(value: Any) -> int:
    number = float(value)
    if not number.is_integer() or number < 1:
        raise ValueError(value)
    return int(number)


def _learning_rate(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(value)
    return Level(label, rate, {"learning_rate": rate})


def _width(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    width = _positive_int(value)
    depth = max(len(held_hidden_layers(held)), 1)
    return Level(label, width, {"hidden_layers": (width,) * depth})


def _depth(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    depth = _positive_int(value)
    layers = held_hidden_layers(held)
    width = layers[0] if layers else 256
    return Level(label, depth, {"hidden_layers": (width,) * depth})


def _hidden_layers(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    widths = _widths(value)
    return Level("x".join(map(str, widths)), "x".join(map(str, widths)), {"hidden_layers": widths})


def _widths(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = value.replace(",", "x").split("x")
        return tuple(_positive_int(part) for part in parts if part.strip())
    if isinstance(value, int):
        return (_positive_int(value),)
    return tuple(_positive_int(part) for part in value)


def _activation(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    from deepfit.models.mlp import ACTIVATIONS

    if value not in ACTIVATIONS:
        raise ConfigError(
            f"bad value {label!r} for factor 'activation'; choose from {', '.join(ACTIVATIONS)}"
        )
    return Level(label, label, {"activation": label})


def _max_epochs(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    epochs = _positive_int(value)
    return Level(label, epochs, {"max_epochs": epochs, "patience": None})


def _regularization(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    key = label.lower().replace("-", "_")
    if key not in REGULARIZATION:
        raise ConfigError(
            f"bad value {label!r} for factor 'regularization'; choose from "
            f"{', '.join(REGULARIZATION)}"
        )
    return Level(key, key, dict(REGULARIZATION[key]))


def _model(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    if value != AUTO and value not in MODELS:
        raise ConfigError(
            f"bad value {label!r} for factor 'model'; choose from {', '.join([AUTO, *MODELS])}"
        )
    return Level(label, label, {"model": label})


def _train_size(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(value)
    if number <= 1:  # a fraction of the training split; 1 is all of it
        return Level(label, number, train_size=number)
    if not number.is_integer():
        raise ValueError(value)
    return Level(label, int(number), train_size=int(number))


def _features(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    if isinstance(value, list | tuple):
        columns = tuple(str(column) for column in value)
        return Level("+".join(columns), "+".join(columns), keep=columns)
    text = str(value).strip()
    if text == "all":
        return Level(text, text)
    dropping = text.startswith("drop:")
    columns = tuple(part.strip() for part in text.removeprefix("drop:").split("+") if part.strip())
    if not columns:
        raise ValueError(value)
    if dropping:
        return Level(text, text, drop=columns)
    return Level(text, text, keep=columns)


def _parameter(name: str, value: Any, label: str, held: dict[str, Any]) -> Level:
    if name == "hidden_layers":
        return _hidden_layers(name, value, label, held)
    return parameter_level(name, value)


def parameter_level(name: str, value: Any) -> Level:
    """Estimator parameter ``name`` set to ``value`` (a string is read by :func:`parse_value`)."""
    parsed = parse_value(value) if isinstance(value, str) else value
    return Level(_label(value), parsed, {name: parsed})


def parse_value(text: str) -> Any:
    """A command-line value as Python: int, float, None, bool, or the string itself.

    Example:
        >>> [parse_value(text) for text in ["3", "0.5", "1e-3", "none", "true", "gelu"]]
        [3, 0.5, 0.001, None, True, 'gelu']
    """
    lowered = text.strip().lower()
    if lowered in {"none", "null"}:
        return None
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


_LEVEL_PARSERS = {
    "learning_rate": _learning_rate,
    "width": _width,
    "depth": _depth,
    "hidden_layers": _hidden_layers,
    "activation": _activation,
    "max_epochs": _max_epochs,
    "regularization": _regularization,
    "model": _model,
    "train_size": _train_size,
    "features": _features,
}
