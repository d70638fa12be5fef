"""The server runs the TabM members chosen on the validation rows, unless told otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

from deepfit import Regressor
from deepfit.models.members import TOLERANCE, find_tabm
from deepfit.serve import ServerSettings, create_app
from tests.support.tables import make_table

TABM = {
    "model": "ensemble",
    "model_options": {"k": 8},
    "hidden_layers": (16, 16),
    "max_epochs": 8,
    "batch_size": 64,
    "time_limit": None,
    "random_state": 0,
}


@pytest.fixture(scope="module")
def tabm() -> Regressor:
    frame = make_table(1_900)
    train, held = frame.iloc[:800], frame.iloc[800:]
    return Regressor(**TABM).fit(
        train.drop(columns="y"), train["y"], X_val=held.drop(columns="y"), y_val=held["y"]
    )


def _rows(n: int, seed: int) -> list[dict[str, object]]:
    frame = make_table(n, seed=seed).drop(columns="y")
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _member_means(
    model: Regressor, rows: list[dict[str, object]], members: list[int]
) -> np.ndarray:
    features = model.preprocessor_.transform(pd.DataFrame(rows))
    tabm = find_tabm(model.network_)
    assert tabm is not None
    captured: list[torch.Tensor] = []
    hook = tabm.register_forward_hook(
        lambda module, args, out: captured.append(tabm.member_outputs(args[0]))
    )
    with torch.no_grad():
        model.network_.eval()(torch.tensor(features.numeric), torch.tensor(features.categorical))
    hook.remove()
    mean = captured[0][:, members].mean(dim=1).squeeze(-1)
    return model.network_.head(mean).numpy()


def test_fit_records_the_members_to_serve(tabm: Regressor) -> None:
    record = tabm.training_summary_["served_members"]
    members = record["members"]
    assert record["of"] == 8
    assert 2 <= len(members) < 8
    assert len(set(members)) == len(members)
    assert all(0 <= member < 8 for member in members)
    assert record["validation_loss"] <= record["validation_loss_all"] * (1 + TOLERANCE)


def test_the_server_answers_with_the_chosen_members(tabm: Regressor) -> None:
    rows = _rows(30, 5)
    members = tabm.training_summary_["served_members"]["members"]
    for backend in ("onnx", "torch"):
        client = TestClient(create_app(tabm, ServerSettings(backend=backend)))
        answer = client.post("/predict", json=rows).json()["predictions"]
        expected = _member_means(tabm, rows, members)
        np.testing.assert_allclose(answer, expected, rtol=1e-4, atol=1e-3)
        assert not np.allclose(answer, tabm.predict(pd.DataFrame(rows)), rtol=1e-6)
        assert client.get("/metadata").json()["members"].startswith(f"{len(members)} of 8")


def test_all_members_serves_the_whole_ensemble(tabm: Regressor) -> None:
    rows = _rows(30, 5)
    client = TestClient(create_app(tabm, ServerSettings(all_members=True)))
    answer = client.post("/predict", json=rows).json()["predictions"]
    np.testing.assert_allclose(answer, tabm.predict(pd.DataFrame(rows)), rtol=1e-4)
    assert client.get("/metadata").json()["members"] == "all 8"


@pytest.mark.parametrize("record", [{"members": [0, 99]}, {"members": "all"}, "nonsense"])
def test_a_malformed_record_serves_every_member(
    tabm: Regressor, record: object, caplog: pytest.LogCaptureFixture
) -> None:
    saved = tabm.training_summary_
    tabm.training_summary_ = {**saved, "served_members": record}
    try:
        client = TestClient(create_app(tabm, ServerSettings(backend="torch")))
    finally:
        tabm.training_summary_ = saved
    rows = _rows(10, 6)
    answer = client.post("/predict", json=rows).json()["predictions"]
    np.testing.assert_allclose(answer, tabm.predict(pd.DataFrame(rows)), rtol=1e-4)
    assert "serving all members" in caplog.text


def test_the_start_up_lines_say_which_members_answer(tabm: Regressor) -> None:
    from deepfit.serve.run import _announce

    gateway = create_app(tabm, ServerSettings(backend="torch"))
    lines: list[str] = []
    _announce(lines.append, "127.0.0.1", 8000, 1, None, gateway.members)
    assert gateway.members is not None
    assert lines[1].startswith(f"TabM members served: {gateway.members};")
    assert "--all-members" in lines[1]
    every = create_app(tabm, ServerSettings(backend="torch", all_members=True))
    lines.clear()
    _announce(lines.append, "127.0.0.1", 8000, 1, None, every.members)
    assert len(lines) == 1
