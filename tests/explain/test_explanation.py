"""``explain`` and ``Explanation.save``: the frames, the files and PNGs, no silent overwrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepfit import Regressor
from deepfit.errors import ConfigError, DataError, OutputExistsError
from deepfit.explain import Explanation, explain
from deepfit.explain import explanation as explanation_module
from deepfit.explain.explanation import plot_names
from deepfit.explain.table import explanation_notes
from tests.support.tables import make_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def explanation(fitted: Regressor) -> Explanation:
    frame = make_table(n_rows=150, seed=2)
    return explain(fitted, frame.drop(columns="y"), frame["y"], n_repeats=2, top=2, rows=40)


def test_explain_holds_importance_attributions_and_dependence(explanation: Explanation) -> None:
    importance = explanation.importance
    assert list(importance.columns) == [
        "feature",
        "role",
        "importance_mean",
        "importance_std",
        "mean_abs_attribution",
    ]
    assert importance["mean_abs_attribution"].notna().all()
    assert explanation.attributions.shape == (40, 5)
    assert explanation.attributions.index.is_monotonic_increasing  # positions in the data
    assert explanation.attributions.index.max() < 150
    top = importance["feature"].head(2).tolist()
    assert explanation.partial_dependence["feature"].unique().tolist() == top
    assert explanation.labelled_rows == 150
    assert explanation.target == "y"


def test_save_writes_the_csvs_and_png_charts(explanation: Explanation, tmp_path: Path) -> None:
    folder = tmp_path / "explain"
    written = explanation.save(folder)
    names = sorted(path.name for path in written)
    top = explanation.importance["feature"].head(2).tolist()
    assert names == sorted(
        [
            "importance.csv",
            "attributions.csv",
            "partial_dependence.csv",
            "importance.png",
            "attributions.png",
            *(f"pdp_{name}.png" for name in top),
        ]
    )
    assert sorted(path.name for path in folder.iterdir()) == names  # no temporary files left
    for path in folder.glob("*.png"):
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 1000
    attributions = pd.read_csv(folder / "attributions.csv")
    assert list(attributions.columns) == [
        "row",
        *explanation.attributions.columns,
        "prediction",
        "baseline_prediction",
    ]
    total = attributions[list(explanation.attributions.columns)].sum(axis=1)
    np.testing.assert_allclose(
        total + attributions["baseline_prediction"], attributions["prediction"], atol=0.5
    )
    importance = pd.read_csv(folder / "importance.csv")
    assert importance["feature"].tolist() == explanation.importance["feature"].tolist()


def test_save_refuses_a_non_empty_folder_unless_overwrite(
    explanation: Explanation, tmp_path: Path
) -> None:
    folder = tmp_path / "explain"
    folder.mkdir()
    keep = folder / "notes.txt"
    keep.write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        explanation.save(folder)
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]
    explanation.save(folder, overwrite=True)
    assert (folder / "importance.png").read_bytes()[:8] == PNG_MAGIC
    assert keep.read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    explanation.save(empty)  # an existing empty folder is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="is a file"):
        explanation.save(tmp_path / "file", overwrite=True)


def test_bad_settings_and_data_are_refused(fitted: Regressor) -> None:
    frame = make_table(n_rows=20)
    X, y = frame.drop(columns="y"), frame["y"]
    with pytest.raises(ConfigError, match="n_repeats"):
        explain(fitted, X, y, n_repeats=0)
    with pytest.raises(ConfigError, match="rows"):
        explain(fitted, X, y, rows=0)
    with pytest.raises(DataError, match="rows but y has"):
        explain(fitted, X, y.iloc[:5])
    with pytest.raises(DataError, match="'colour'"):
        explain(fitted, X.drop(columns="colour"), y)


def test_plot_names_are_safe_and_distinct() -> None:
    names = plot_names(["a/b", "a b", "x1"])
    assert names == {"a/b": "pdp_a_b.png", "a b": "pdp_a_b_2.png", "x1": "pdp_x1.png"}


def test_permutation_importance_samples_rows_when_every_row_would_cost_too_many_predictions(
    simple: tuple[Regressor, pd.DataFrame, pd.Series], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, X, y = simple
    assert explanation_module.importance_rows(columns=45, repeats=5) == 1_111
    assert explanation_module.importance_rows(columns=400, repeats=5) == 1_000  # the floor
    whole = explain(model, X, y, n_repeats=2, top=0, rows=20)
    assert whole.importance_rows == 0
    assert "over repeats, all rows" in explanation_notes(whole)[0]
    monkeypatch.setattr(explanation_module, "SHUFFLED_ROWS", 2 * 2 * 120)  # 2 columns, 2 repeats
    monkeypatch.setattr(explanation_module, "MIN_SHUFFLED_ROWS", 100)
    sampled = explain(model, X, y, n_repeats=2, top=0, rows=20)
    assert sampled.importance_rows == 120
    assert "over repeats, 120 of the 300 rows" in explanation_notes(sampled)[0]
    assert sampled.importance["feature"].iloc[0] == "x1"  # still the column that matters
