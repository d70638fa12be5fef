"""The server runs the TabM members chosen on the validation rows and taught all members'
answers, unless told otherwise."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient
from rich.status import Status

import deepfit
from deepfit import Regressor
from deepfit.artifact import save_model
from deepfit.errors import ArtifactError
from deepfit.estimator import served
from deepfit.estimator.served import SERVED
from deepfit.evaluation.crossval import cross_validate
from deepfit.models.members import find_tabm
from deepfit.serve import ServerSettings, create_app
from deepfit.study import run_study
from deepfit.training import distillation
from deepfit.training.distillation import BATCH, PASSES
from deepfit.tuning import tune
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


def _served_answers(model: Regressor, rows: list[dict[str, object]]) -> np.ndarray:
    features = model.preprocessor_.transform(pd.DataFrame(rows))
    with torch.no_grad():
        served = model.served_network_.eval()
        return served.answer(
            torch.tensor(features.numeric), torch.tensor(features.categorical)
        ).numpy()


def test_fit_records_the_members_to_serve_and_teaches_them(tabm: Regressor) -> None:
    record = tabm.training_summary_["served_members"]
    members = record["members"]
    assert record["of"] == 8
    assert len(members) == SERVED
    assert len(set(members)) == len(members)
    assert all(0 <= member < 8 for member in members)
    assert record["distilled"] is True
    assert record["distil_steps"] > 0
    assert record["validation_gap"] < record["validation_gap_sliced"]
    served = find_tabm(tabm.served_network_)
    assert served is not None
    assert served.k == SERVED
    rows = _rows(40, 3)
    taught = _served_answers(tabm, rows)
    sliced = _member_means(tabm, rows, members)
    every = tabm.predict(pd.DataFrame(rows))
    assert np.mean((taught - every) ** 2) < np.mean((sliced - every) ** 2)


def test_with_no_time_limit_the_clock_does_not_cut_the_teaching_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(served, "SECONDS", 1e-6)  # what a time limit would allow
    frame = make_table(1_900)
    train, held = frame.iloc[:800], frame.iloc[800:]
    fits = [
        Regressor(**TABM).fit(
            train.drop(columns="y"), train["y"], X_val=held.drop(columns="y"), y_val=held["y"]
        )
        for _ in range(2)
    ]
    assert fits[0].training_summary_["served_members"]["distil_steps"] == math.ceil(
        PASSES * len(train) / BATCH
    )
    first, second = (fit.served_network_.state_dict() for fit in fits)
    for name, value in first.items():
        assert torch.equal(value, second[name]), name


def test_the_server_answers_with_the_taught_members(tabm: Regressor) -> None:
    rows = _rows(30, 5)
    for backend in ("onnx", "torch"):
        client = TestClient(create_app(tabm, ServerSettings(backend=backend)))
        answer = client.post("/predict", json=rows).json()["predictions"]
        np.testing.assert_allclose(answer, _served_answers(tabm, rows), rtol=1e-4, atol=1e-3)
        assert not np.allclose(answer, tabm.predict(pd.DataFrame(rows)), rtol=1e-6)
        members = client.get("/metadata").json()["members"]
        assert (
            members
            == f"{SERVED} of 8, chosen on the validation rows and taught all members' answers"
        )


def test_a_file_without_taught_members_serves_the_sliced_ones(tabm: Regressor) -> None:
    rows = _rows(30, 5)
    members = tabm.training_summary_["served_members"]["members"]
    saved, tabm.served_network_ = tabm.served_network_, None
    try:
        client = TestClient(create_app(tabm, ServerSettings(backend="torch")))
    finally:
        tabm.served_network_ = saved
    answer = client.post("/predict", json=rows).json()["predictions"]
    np.testing.assert_allclose(answer, _member_means(tabm, rows, members), rtol=1e-4, atol=1e-3)
    assert (
        client.get("/metadata").json()["members"] == f"{SERVED} of 8, chosen on the validation rows"
    )


def test_the_model_file_keeps_the_taught_members(tabm: Regressor, tmp_path: Path) -> None:
    path = tabm.save(tmp_path / "tabm.deepfit")
    loaded = deepfit.load(path)
    rows = _rows(20, 7)
    np.testing.assert_allclose(_served_answers(loaded, rows), _served_answers(tabm, rows))
    np.testing.assert_allclose(loaded.predict(pd.DataFrame(rows)), tabm.predict(pd.DataFrame(rows)))


@pytest.mark.parametrize("record", [None, {"members": [0, 1]}, {"members": "all"}])
def test_taught_weights_that_the_record_does_not_name_are_refused(
    tabm: Regressor, tmp_path: Path, record: object
) -> None:
    saved = tabm.describe()
    training = {name: value for name, value in saved.training.items() if name != "served_members"}
    if record is not None:
        training["served_members"] = record
    saved.training = training
    path = save_model(saved, tmp_path / "altered.deepfit")
    with pytest.raises(ArtifactError, match="served members"):
        deepfit.load(path)


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


def test_a_verbose_fit_says_what_the_pause_after_the_progress_bar_is() -> None:
    status = served._status(True, 3, 16, 60.0)
    assert isinstance(status, Status)
    assert str(status.renderable.text) == (
        "teaching the 3 members the server runs to answer as all 16 do, up to 60 s"
    )
    assert not isinstance(served._status(False, 3, 16, 60.0), Status)


def _counting_distil(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the steps of each teaching that runs."""
    taught: list[int] = []
    real = served.distil

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        taught.append(result.steps)
        return result

    monkeypatch.setattr(served, "distil", counting)
    return taught


def test_a_search_teaches_only_the_model_it_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    taught = _counting_distil(monkeypatch)
    monkeypatch.setattr(distillation, "PASSES", 5)  # a short teaching: only whether it runs
    options = {k: v for k, v in TABM.items() if k not in ("random_state", "time_limit")}
    frame = make_table(7_000)  # 15% of it validates: enough rows to choose members on
    result = tune(frame, target="y", trials=2, time_limit=120, seed=0, **options)
    assert len(result.study.trials) == 2
    assert [steps > 0 for steps in taught] == [False, False, True]  # two trials, then the kept
    record = result.model.training_summary_["served_members"]
    assert record["distilled"] is True
    assert record["distil_steps"] == taught[-1]


def test_cross_validation_does_not_teach_its_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    taught = _counting_distil(monkeypatch)
    frame = make_table(4_400)  # a fold's 2,200 rows, half of them validate
    halves = {**TABM, "validation_fraction": 0.5}
    cross_validate(frame, target="y", folds=2, baselines=False, **halves)
    assert taught == [0, 0]
    Regressor(**halves).fit(frame.iloc[:2_200].drop(columns="y"), frame["y"].iloc[:2_200])
    assert len(taught) == 3
    assert taught[-1] > 0  # outside, a fit teaches as before


def test_a_study_does_not_teach_the_models_it_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    taught = _counting_distil(monkeypatch)
    settings = {k: v for k, v in TABM.items() if k != "random_state"}
    run_study(
        make_table(7_000), target="y", vary={"learning_rate": [0.01]}, seeds=[0], settings=settings
    )
    assert taught == [0]  # chosen and sliced, as the run's record says, but not taught
