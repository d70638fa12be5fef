"""Which features matter, globally and per prediction.

* :func:`permutation_importances` — scikit-learn's permutation importance on the raw columns;
* :func:`integrated_gradients` — Captum's integrated gradients per prediction, summed back to
  raw columns;
* :func:`partial_dependence` — the average prediction over a grid of one column's values;
* :func:`explain` — all three, as an :class:`Explanation` that saves CSVs and PNG charts.

Example:
    >>> from deepfit.explain import explain
    >>> explanation = explain(model, X, y, top=3, rows=200)  # doctest: +SKIP
    >>> explanation.save("explain")  # doctest: +SKIP
"""

from deepfit.explain.attributions import Attributions, integrated_gradients
from deepfit.explain.dependence import partial_dependence
from deepfit.explain.explanation import Explanation, explain
from deepfit.explain.importance import permutation_importances
from deepfit.explain.table import explanation_notes, explanation_table

__all__ = [
    "Attributions",
    "Explanation",
    "explain",
    "explanation_notes",
    "explanation_table",
    "integrated_gradients",
    "partial_dependence",
    "permutation_importances",
]
