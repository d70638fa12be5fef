"""Fine-tuning a saved model on new data: ``Regressor(init_from=..., train_last=K)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from deepfit import ConfigError, DataError, Regressor, load
from tests.support.tables import make_table

TUNE: dict[str, Any] = {"max_epochs": 40, "batch_size": 32, "learning_rate": 3e-3}


@pytest.fixture(scope="module")
def old_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained on ``make_table()``, saved once for these tests."""
    frame = make_table(300)
    model = Regressor(
        model="mlp", hidden_layers=(32, 32), max_epochs=60, batch_size=32, learning_rate=3e-3
    )
    model.fit(frame.drop(columns="y"), frame["y"])
    return model.save(tmp_path_factory.mktemp("finetune") / "old.deepfit")


def shifted(n_rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """The same columns, but the target moved: what the old model has not seen."""
    frame = make_table(n_rows, seed=seed)
    return frame.drop(columns="y"), frame["y"] + 25.0 + 5.0 * frame["x1"]


def rmse(model: Regressor, X: pd.DataFrame, y: pd.Series) -> float:
    return float(np.sqrt(np.mean((model.predict(X) - y.to_numpy()) ** 2)))


def test_fine_tuning_the_last_layer_improves_and_leaves_the_rest_untouched(
    old_model: Path,
) -> None:
    old = load(old_model)
    X, y = shifted(200, seed=1)
    X_test, y_test = shifted(200, seed=2)
    # The new call's architecture options are ignored: the old model's are kept.
    tuned = Regressor(**TUNE, hidden_layers=(7,), init_from=old_model, train_last=1).fit(X, y)
    assert rmse(tuned, X_test, y_test) < 0.6 * rmse(old, X_test, y_test)

    before, after = old.network_.state_dict(), tuned.network_.state_dict()
    linear = [n for n, m in tuned.network_.named_modules() if isinstance(m, torch.nn.Linear)]
    last = linear[-1] + "."  # the output layer: the only one trained
    for name, weight in before.items():
        if name.startswith(last):
            assert not torch.equal(weight, after[name]), name
        else:
            assert torch.equal(weight, after[name]), name  # frozen: embeddings included
    assert all(p.requires_grad for p in tuned.network_.parameters())  # unfrozen afterwards
    assert tuned.preprocessor_.to_dict() == old.preprocessor_.to_dict()
    assert tuned.settings_["hidden_layers"] == (32, 32)
    assert tuned.training_summary_["train_last"] == 1


def test_fine_tuning_everything_changes_every_layer(old_model: Path) -> None:
    old = load(old_model)
    X, y = shifted(200, seed=1)
    tuned = Regressor(**TUNE, init_from=old_model).fit(X, y)
    before, after = old.network_.state_dict(), tuned.network_.state_dict()
    for name, _ in old.network_.named_parameters():
        assert not torch.equal(before[name], after[name]), name
    assert tuned.task_.to_dict() == old.task_.to_dict()  # the old target scale


def test_a_fine_tuned_model_saves_and_loads_with_its_real_architecture(
    old_model: Path, tmp_path: Path
) -> None:
    X, y = shifted(120, seed=3)
    tuned = Regressor(model="mlp", max_epochs=3, hidden_layers=(5, 5, 5), init_from=old_model).fit(
        X, y
    )
    again = load(tuned.save(tmp_path / "tuned.deepfit"))
    assert again.settings_["hidden_layers"] == (32, 32)
    assert again.hidden_layers == (5, 5, 5)  # the parameter as given, kept for refitting
    np.testing.assert_array_equal(again.predict(X), tuned.predict(X))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X: X.drop(columns=["colour", "flag"]), r"lacks 'colour', 'flag'"),
        (lambda X: X.assign(extra=1.5), r"has new column\(s\) 'extra'"),
        (
            lambda X: X.assign(colour=np.arange(len(X)) % 7 / 3.0),
            r"'colour' is numeric, not categorical",
        ),
    ],
)
def test_data_with_other_columns_or_roles_is_refused(
    old_model: Path, change: Any, message: str
) -> None:
    X, y = shifted(60, seed=4)
    with pytest.raises(DataError, match=message) as error:
        Regressor(max_epochs=1, init_from=old_model).fit(change(X), y)
    assert "\n" not in str(error.value)
    assert "init_from" in str(error.value)


def test_a_column_that_happens_to_be_constant_in_the_new_data_is_fine(old_model: Path) -> None:
    X, y = shifted(60, seed=4)
    Regressor(max_epochs=1, init_from=old_model).fit(X.assign(flag=True), y)


def test_bad_fine_tuning_settings_are_config_errors(old_model: Path) -> None:
    X, y = shifted(60, seed=4)
    with pytest.raises(ConfigError, match="pass init_from"):
        Regressor(max_epochs=1, train_last=1).fit(X, y)
    with pytest.raises(ConfigError, match="train_last=9, but the network has 3 linear"):
        Regressor(max_epochs=1, init_from=old_model, train_last=9).fit(X, y)
    with pytest.raises(ConfigError, match="train_last must be a positive"):
        Regressor(max_epochs=1, init_from=old_model, train_last=0).fit(X, y)
