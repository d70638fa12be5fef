"""``model="auto"``: the network and training recipe deepfit picks for you.

The choice follows the published results on California housing (TabM with piecewise-linear
embeddings ahead of every other network, and of LightGBM) and runs of the zoo here on
California housing (a few minutes on 2 CPU cores), where TabM-mini (the ``ensemble`` model:
k MLPs sharing their weights, each with its own input scaling and head) over piecewise-linear
embeddings of the numeric features scored best. ``benchmarks/accuracy.py`` measures it
against the gradient-boosted trees (``benchmarks/results/accuracy.md``). The recipe is
TabM's (AdamW at 2e-3 with weight decay 3e-4, early stopping after 16 epochs without
improvement) with one change: the rate is constant until the last quarter of the time limit,
or until the validation loss has stalled for 8 epochs, and then decays linearly to zero (the
``"anneal"`` schedule, which takes TabM's dropout of 0.1 to zero with it), since with a
constant rate a run that the time limit stops ends at a high rate. ``k`` is 16 rather than
the paper's 32, which halves the cost of an epoch on a CPU for little loss of accuracy.

Large tables change two things, both measured on flights (209,502 training rows), where k=16
saw only 3 epochs in 240 s and scored 30% behind LightGBM:

* fewer members: k halves until ``k x rows`` is at most :data:`MEMBER_ROWS_PER_EPOCH`, the
  cost of an epoch on diamonds (34,500 training rows, k=16), the largest table where k=16 met
  the bar, so a big table still sees enough epochs (flights gets k=2 and 16 epochs);
* a wide clip: from :data:`LARGE_DATA_ROWS` rows, scaled numeric inputs are smoothly clipped
  at 100 rather than 3. There the tails hold thousands of rows worth fitting (flights' longest
  delays, 1.6% of rows beyond 10 IQRs), which the clip at 3 squeezes together; on smaller
  tables it still guards against a few extreme values.

From :data:`SMALL_DATA_ROWS` rows, the piecewise-linear embedding cuts each numeric feature
into :data:`PIECEWISE_BINS` (64) quantile bins rather than its default 32: finer steps
where a feature's effect turns sharply, such as California's latitude and longitude. Over
3 seeds (240 s) that lowered California's test RMSE from 44,156 to 43,733 (-1.0%, every seed
better), chicago's by 2.0% and flights' by 0.5%, and left diamonds, deliveries, cps1988 and
hotel_rates within 0.4% (diamonds' MAPE fell from 7.66% to 7.25%); 48 bins gave California
43,972, and 128 bins 43,676, within 0.2% of 64. Rerun once dropout fell with the learning
rate, 128 bins gave 43,859 against 64's 43,862.
A small table keeps 32: ames (1,875 training rows, 29 rows a bin at 64) scored 4.0% worse, one
seed by 12%.

A positive, right-skewed target (a price, a wage, a duration: skewness of at least 0.5,
which its logarithm lowers) gets ``target_transform="log_link"``: the network learns the
target's logarithm, a multiplicative fit, scored by the squared error of its exponential in
the target's units plus that of the logarithm. The first keeps the RMSE of a raw fit, the
second the relative errors of cheap rows small: on diamonds (3 seeds, 240 s) test RMSE 536.1
and MAPE 7.6% against 536.9 and 9.2% without; the first term alone gave 550.7 and 8.5%
(``benchmarks/results/accuracy.md``, ``deepfit-auto-none`` and ``deepfit-auto-units-link``).

Auto decides only the settings left at ``"auto"``: ``Regressor(max_epochs=30)`` still
trains for at most 30 epochs, with auto's architecture, and a value given explicitly is
kept even when it equals auto's. The ``time_limit`` under auto is :data:`AUTO_TIME_LIMIT`
seconds; when it stops training, how many epochs ran depends on the machine's speed, so pass
``time_limit=None`` for runs that must repeat exactly. ``model_options`` given with
``model="auto"`` are added to auto's (``{"k": 4}`` replaces auto's k). The same recipe
serves regression and classification: the task sets the output width and the loss.

:func:`resolve` is a pure function of the given parameters and the data's shape.

Example:
    >>> auto_settings(20_000)["model"]
    'ensemble'
    >>> resolved = resolve({"model": "auto", "max_epochs": 30}, DataShape(20_000), "regression")
    >>> resolved.settings["max_epochs"], resolved.settings["learning_rate"]
    (30, 0.002)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deepfit.estimator.params import AUTO, params_for
from deepfit.models.inputs import DEFAULT_CLIP

AUTO_TIME_LIMIT = 240.0
SMALL_DATA_ROWS = 2_000  # below this, a narrower network and fewer members
LARGE_DATA_ROWS = 100_000  # from this, the scaled inputs are clipped at LARGE_DATA_CLIP
LARGE_DATA_CLIP = 100.0
MEMBER_ROWS_PER_EPOCH = 600_000  # k x rows at most this: diamonds' k=16 fits, flights' k=2
PIECEWISE_BINS = 64  # quantile bins a numeric feature's piecewise-linear embedding gets


def ensemble_size(n_rows: int) -> int:
    """The members ``k`` auto gives TabM for ``n_rows`` training rows: 8 for small tables, 16,
    and fewer for large ones, so that an epoch stays affordable within the time limit.

    Example:
        >>> [ensemble_size(n) for n in (500, 20_000, 60_000, 209_502)]
        [8, 16, 8, 2]
    """
    if n_rows < SMALL_DATA_ROWS:
        return 8
    k = 16
    while k > 1 and k * n_rows > MEMBER_ROWS_PER_EPOCH:
        k //= 2
    return k


@dataclass(frozen=True)
class DataShape:
    """What auto looks at: the training rows, whether any feature is numeric, boolean or a
    date (which the piecewise-linear embedding needs), and whether the target is positive and
    skewed (:func:`deepfit.data.target.skewed_positive`)."""

    n_rows: int
    has_numeric: bool = True
    skewed_target: bool = False


@dataclass(frozen=True)
class Resolved:
    """Every setting concrete (``settings``), and which of them auto chose (``chosen``)."""

    settings: dict[str, Any]
    chosen: dict[str, Any] = field(default_factory=dict)


def resolve(params: Mapping[str, Any], shape: DataShape, task: str) -> Resolved:
    """Replace every ``"auto"`` in ``params`` (missing names take their defaults).

    Under ``model="auto"`` without ``init_from`` the auto recipe decides; otherwise each
    parameter's fallback does (``batch_size`` grows with the rows either way).
    """
    table = params_for(task)
    given = {name: params.get(name, spec.default) for name, spec in table.items()}
    recipe = (
        auto_settings(
            shape.n_rows, has_numeric=shape.has_numeric, skewed_target=shape.skewed_target
        )
        if given["model"] == AUTO and given.get("init_from") is None
        else {}
    )
    settings: dict[str, Any] = {}
    chosen: dict[str, Any] = {}
    for name, spec in table.items():
        value = given[name]
        if spec.auto and value == AUTO:
            if name in recipe:
                value = chosen[name] = recipe[name]
            else:
                value = spec.resolve_fallback(shape.n_rows)
        elif name == "model_options" and name in recipe and isinstance(value, dict):
            merged = {**recipe[name], **value}
            if merged != value:
                chosen[name] = merged
            value = merged
        settings[name] = value
    return Resolved(settings, chosen)


def auto_settings(
    n_rows: int, *, has_numeric: bool = True, skewed_target: bool = False
) -> dict[str, Any]:
    """The settings ``model="auto"`` uses for ``n_rows`` rows (``has_numeric`` and
    ``skewed_target``: see :class:`DataShape`)."""
    small = n_rows < SMALL_DATA_ROWS
    options: dict[str, Any] = {"k": ensemble_size(n_rows)}
    if has_numeric and not small:  # a small table keeps the embedding's 32 bins
        options["n_bins"] = PIECEWISE_BINS
    return {
        "target_transform": "log_link" if skewed_target else "none",
        "model": "ensemble",
        "numeric_embedding": "piecewise" if has_numeric else None,
        "model_options": options,
        "hidden_layers": (128, 128) if small else (256, 256, 256),
        "dropout": 0.1,
        "clip": LARGE_DATA_CLIP if n_rows >= LARGE_DATA_ROWS else DEFAULT_CLIP,
        "learning_rate": 2e-3,
        "weight_decay": 3e-4,
        "schedule": "anneal",
        "patience": 16,
        "max_epochs": 1000,
        "time_limit": AUTO_TIME_LIMIT,
    }
