"""The training data's reference: what it holds, its JSON, and a hostile file's refusal."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import deepfit
from deepfit import Classifier, Regressor
from deepfit.data.preprocess import TabularPreprocessor
from deepfit.data.schema import infer_schema
from deepfit.errors import ArtifactError
from deepfit.monitor import Reference, build_reference, model_reference
from deepfit.monitor.reference import MAX_EDGES, MAX_SAMPLE, TOP_CATEGORIES
from tests.support.tables import make_label_table, make_table

TINY: dict[str, Any] = {"model": "mlp", "hidden_layers": (8,), "max_epochs": 2, "batch_size": 64}


def prepared(frame: pd.DataFrame) -> tuple[TabularPreprocessor, Any]:
    prep = TabularPreprocessor(infer_schema(frame), min_category_count=2).fit(frame)
    return prep, prep.transform(frame)


def test_numeric_bins_come_from_deciles_and_hold_every_row() -> None:
    frame = make_table(1000).drop(columns="y")
    prep, features = prepared(frame)
    reference = build_reference(prep, features)
    x2 = next(r for r in reference.numeric if r.name == "x2")
    assert len(x2.edges) == 11  # minimum, nine deciles, maximum
    assert x2.shares[0] == 0
    assert x2.shares[-1] == 0
    assert x2.shares[1:-1] == pytest.approx([0.9 / 10] * 10, abs=0.01)
    assert x2.missing == pytest.approx(frame["x2"].isna().mean())
    flag = next(r for r in reference.numeric if r.name == "flag")
    assert flag.edges == (0.0, 1.0)  # a boolean: two edges, the share of false and of true
    assert sum(flag.shares) == pytest.approx(1.0)
    assert [r.name for r in reference.numeric] == ["x1", "x2", "flag"]  # dates are not kept


def test_categories_keep_the_most_frequent_and_count_the_rest() -> None:
    rng = np.random.default_rng(0)
    names = [f"c{i:03d}" for i in range(80)]
    frame = pd.DataFrame(
        {"c": rng.choice(names, size=4000, p=np.linspace(2, 1, 80) / np.linspace(2, 1, 80).sum())}
    )
    frame.loc[:9, "c"] = ["rare"] + [f"once{i}" for i in range(9)]  # below min_category_count
    prep, features = prepared(frame)
    reference = build_reference(prep, features).categorical[0]
    assert len(reference.categories) == TOP_CATEGORIES
    assert reference.unseen == pytest.approx(10 / 4000)
    assert sum(reference.shares) + reference.other + reference.unseen == pytest.approx(1.0)
    assert reference.shares == tuple(sorted(reference.shares, reverse=True))


def test_the_reference_goes_through_json_unchanged() -> None:
    frame = make_table(500).drop(columns="y")
    prep, features = prepared(frame)
    reference = build_reference(prep, features, np.linspace(0, 1, 500))
    document = json.loads(json.dumps(reference.to_dict()))
    assert model_reference(document, prep, 1) == reference


HOSTILE: dict[str, Any] = {
    "unsorted edges": lambda d: d["numeric"][0]["edges"].reverse(),
    "NaN edge": lambda d: d["numeric"][0]["edges"].__setitem__(0, float("nan")),
    "too many edges": lambda d: d["numeric"][0].update(edges=list(range(MAX_EDGES + 1))),
    "text share": lambda d: d["numeric"][0]["shares"].__setitem__(0, "0.1"),
    "bool share": lambda d: d["numeric"][0].update(missing=True),
    "shares not adding up": lambda d: d["numeric"][0].update(missing=0.5),
    "unknown feature": lambda d: d["numeric"][0].update(name="nope"),
    "a feature twice": lambda d: d["numeric"].append(d["numeric"][0]),
    "more features than the model": lambda d: d["numeric"].extend(d["numeric"] * 3),
    "category not in vocabulary": lambda d: d["categorical"][0]["categories"].append("x"),
    "wrong class count": lambda d: d.update(prediction={**d["prediction"], "kind": "classes"}),
    "negative rows": lambda d: d.update(rows=-1),
    "not a list": lambda d: d.update(numeric="x1"),
    "unknown version": lambda d: d.update(version=99),
    "not an object": lambda d: d.clear(),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_reference_is_refused_with_an_artifact_error(name: str) -> None:
    frame = make_table(300).drop(columns="y")
    prep, features = prepared(frame)
    document = build_reference(prep, features, np.arange(300.0)).to_dict()
    HOSTILE[name](document)
    with pytest.raises(ArtifactError, match=r"^reference: "):
        model_reference(document, prep, 1)


@pytest.fixture(scope="module")
def regressor() -> Regressor:
    frame = make_table(300)
    return Regressor(**TINY).fit(frame.drop(columns="y"), frame["y"])


def test_fit_keeps_a_reference_and_the_file_holds_it(regressor: Regressor, tmp_path: Path) -> None:
    reference = model_reference(regressor.reference_, regressor.preprocessor_, 1)
    assert isinstance(reference, Reference)
    assert reference.prediction is not None
    assert reference.prediction.kind == "values"
    assert reference.prediction.split == "training and validation"  # few validation rows
    loaded = deepfit.load(regressor.save(tmp_path / "m.deepfit"))
    assert loaded.reference_ == regressor.reference_


def rewrite_metadata(path: Path, change: Any) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    change(metadata)
    members["metadata.json"] = json.dumps(metadata).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_file_without_a_reference_still_loads(regressor: Regressor, tmp_path: Path) -> None:
    path = regressor.save(tmp_path / "old.deepfit")
    rewrite_metadata(path, lambda metadata: metadata.pop("reference"))
    assert deepfit.load(path).reference_ is None


def test_a_file_with_a_hostile_reference_is_refused(regressor: Regressor, tmp_path: Path) -> None:
    path = regressor.save(tmp_path / "bad.deepfit")
    rewrite_metadata(path, lambda metadata: metadata["reference"]["numeric"][0].update(name="z"))
    with pytest.raises(ArtifactError, match=r"malformed metadata \(reference: "):
        deepfit.load(path)


def test_a_classifier_keeps_the_share_of_each_predicted_class() -> None:
    frame = make_label_table(300, classes=3)
    model = Classifier(**TINY).fit(frame.drop(columns="label"), frame["label"])
    reference = model_reference(model.reference_, model.preprocessor_, 3)
    assert reference is not None
    assert reference.prediction is not None
    assert reference.prediction.classes == ("high", "low", "mid")
    assert sum(reference.prediction.shares) == pytest.approx(1.0)


def test_a_large_table_is_sampled_and_stays_cheap() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=MAX_SAMPLE + 10) for i in range(3)})
    prep, features = prepared(frame)
    reference = build_reference(prep, features)
    assert reference.rows == MAX_SAMPLE
