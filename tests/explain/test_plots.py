"""Every chart renders to a PNG, whatever the roles of the columns it shows."""

from __future__ import annotations

import pandas as pd

from deepfit import Regressor
from deepfit.explain import integrated_gradients, partial_dependence
from deepfit.explain.columns import feature_roles
from deepfit.explain.plots import attributions_figure, dependence_figure, png_bytes
from tests.support.tables import make_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_dependence_and_attribution_charts_render_for_every_role(fitted: Regressor) -> None:
    X = make_table(n_rows=25, seed=9).drop(columns="y")
    roles = feature_roles(fitted)
    curves = partial_dependence(fitted, X, list(roles), grid_size=4)
    for feature, role in roles.items():
        curve = curves[curves["feature"] == feature]
        assert not curve.empty, feature
        figure = dependence_figure(curve, feature=feature, role=role, target="y")
        assert png_bytes(figure)[:8] == PNG_MAGIC
    attributions = integrated_gradients(fitted, X).values
    figure = attributions_figure(attributions, X, roles, target="y")
    assert png_bytes(figure)[:8] == PNG_MAGIC
    dates = pd.to_datetime(X["day"])
    tz_rows = X.assign(day=dates.dt.tz_localize("UTC"))  # timezone-aware dates colour too
    assert png_bytes(attributions_figure(attributions, tz_rows, roles, target="y"))[:8] == (
        PNG_MAGIC
    )
