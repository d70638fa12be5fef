"""A model trained on a streamed file keeps the reference of the pass's sample too."""

from pathlib import Path

import pytest

from deepfit.data.stream import plan_memory
from deepfit.monitor import measure_drift, model_reference
from deepfit.streamed import train_streamed
from tests.support.tables import make_table


def test_a_streamed_fit_keeps_a_reference_of_its_sample(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    make_table(1500).to_parquet(path, row_group_size=500)
    result = train_streamed(
        plan_memory(path, budget=1),
        target="y",
        seed=0,
        model="mlp",
        hidden_layers=(8,),
        max_epochs=2,
        baselines=False,
    )
    model = result.model
    reference = model_reference(model.reference_, model.preprocessor_, 1)
    assert reference is not None
    assert reference.rows == pytest.approx(1500 * 0.7, rel=0.2)  # the training rows' sample
    assert [r.name for r in reference.numeric] == ["x1", "x2", "flag"]
    rows = make_table(600, seed=5).drop(columns="y")
    drifts = measure_drift(reference, model.preprocessor_, rows, model.predict_answers(rows))
    assert all(d.status == "fine" for d in drifts), [d.reading for d in drifts]
