"""deepfit's peers for benchmarks/accuracy.py, each fitted as its own users would.

Every peer gets the same raw split (a pandas DataFrame with numeric, categorical and date
columns and missing values) and does its own preprocessing:

- lightgbm, xgboost, catboost: default hyper-parameters with ``BOOSTING_ROUNDS`` = 10,000
  rounds and early stopping after ``EARLY_STOPPING`` = 100 rounds without improvement on the
  validation split; the model predicts with its best iteration on that split. Categories stay
  categories (pandas ``category`` for LightGBM and XGBoost with ``enable_categorical=True``,
  ``cat_features`` for CatBoost); dates become numbers (days since 1970). CatBoost picks its
  learning rate from the round count and the data, as it does by default.
- sklearn-mlp: ``MLPRegressor()`` with its defaults (``early_stopping=False``, 200 epochs), after
  median imputation and standard scaling of numbers and one-hot encoding of categories; the
  target is standardised (``TransformedTargetRegressor``), without which the defaults do not
  converge on targets in the 100,000s. It never sees the validation split.
- ridge: ``RidgeCV(alphas=logspace(-3, 3, 13))`` (leave-one-out on the training split) with the
  same preprocessing.
- realmlp: pytabkit's ``RealMLP_TD_Regressor()`` with its defaults, given the validation split
  as ``X_val, y_val`` (it picks its best epoch there); it refuses missing numbers, so they are
  median-imputed. It has no time limit.
- tabm: the ``tabm`` package's README recipe (example.ipynb): ``TabM.make`` defaults (k=32)
  with ``PiecewiseLinearEmbeddings`` (48 quantile bins, d_embedding=16, version "B"),
  numbers median-imputed and quantile-transformed to a normal distribution, one-hot categories,
  a standardised target, AdamW(lr=2e-3, weight_decay=3e-4), batches of 256, the mean loss of
  the k heads, early stopping after 16 epochs without a better validation RMSE, and the mean of
  the k predictions. It stops early at the benchmark's time limit.

Classification (``CLASSIFIERS``; a classification table runs only these, a regression table only
``PEERS``): every classifier returns probabilities, one column per class in the agreed order
(``class_order``: the sorted distinct training labels), so every model is scored the same way.
The labels are given to the libraries as their codes in that order (0, 1, ...; XGBoost accepts
nothing else), and each library's ``classes_`` maps its columns back.

- lightgbm, xgboost, catboost: ``LGBMClassifier``, ``XGBClassifier``, ``CatBoostClassifier``
  with the regressors' settings above (defaults, 10,000 rounds, early stopping after 100 rounds
  on the validation split, by each library's default log-loss), the same categories and dates.
- logistic: ``LogisticRegression(max_iter=10_000)`` (C=1, lbfgs, multinomial for three or more
  classes: the defaults) after the same imputation, scaling and one-hot encoding as ridge. It
  never sees the validation split.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from accuracy_data import CLASSIFICATION, REGRESSION, Split, class_order

BOOSTING_ROUNDS = 10_000
EARLY_STOPPING = 100
RIDGE_ALPHAS = np.logspace(-3, 3, 13)
TABM_BATCH = 256
TABM_PATIENCE = 16
TABM_BINS = 48
TABM_EVAL_BATCH = 8096
LOGISTIC_MAX_ITER = 10_000
MISSING = "__missing__"  # the category of missing values where a library wants one

Predict = Callable[[pd.DataFrame], np.ndarray]


@dataclass
class Fitted:
    """A trained model's predict function, its settings and what it learned about itself."""

    predict: Predict
    settings: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """What every fit of one benchmark run shares."""

    seed: int
    time_limit: float | None  # seconds, for the models that take a limit
    threads: int | None  # None: each library's default (all cores)

    def jobs(self, name: str) -> dict[str, int]:
        """``{name: threads}`` when threads are set, else nothing (the library's default)."""
        return {} if self.threads is None else {name: self.threads}


@dataclass(frozen=True)
class Peer:
    """How to fit one peer, and the modules it needs."""

    fit: Callable[[Split, Run], Fitted]
    modules: tuple[str, ...]
    warm: tuple[str, ...] = ()  # imported before timing too, where installed


# ------------------------------------------------------------------------ preprocessing
def categorical_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of text or categories (booleans and dates are not)."""
    return [
        str(name)
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    ]


def numeric_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as days since 1970 and booleans as 0/1; other columns unchanged."""
    out = frame.copy()
    for name, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            stamps = pd.to_datetime(out[name])
            days = (stamps - pd.Timestamp(0)) / pd.Timedelta(days=1)
            out[name] = days.astype("float64")
        elif pd.api.types.is_bool_dtype(dtype):
            out[name] = out[name].astype("float64")
    return out


def with_categories(train: pd.DataFrame, *others: pd.DataFrame) -> list[pd.DataFrame]:
    """pandas ``category`` columns whose categories are the training split's (others: unseen
    values become missing), dates as numbers; what LightGBM and XGBoost users pass."""
    frames = [numeric_frame(frame) for frame in (train, *others)]
    for name in categorical_columns(frames[0]):
        categories = pd.Index(frames[0][name].dropna().astype(str).unique()).sort_values()
        for frame in frames:
            values = frame[name].astype("object").where(frame[name].notna())
            frame[name] = pd.Categorical(values.map(_text), categories=categories)
    return frames


def _text(value: Any) -> Any:
    return (
        value if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    )


def _column_transformer(frame: pd.DataFrame) -> Any:
    """Median imputation and standard scaling of numbers; one-hot encoding of categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = categorical_columns(frame)
    numeric = [str(name) for name in frame.columns if name not in categorical]
    return ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                categorical,
            ),
        ]
    )


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as numbers and category columns as plain text (missing stays missing)."""
    out = numeric_frame(frame)
    for name in categorical_columns(out):
        out[name] = out[name].astype("object").where(out[name].notna()).map(_text)
    return out


# ------------------------------------------------------------------------------ GBDTs
def fit_lightgbm(split: Split, run: Run) -> Fitted:
    import lightgbm

    X_train, X_val = with_categories(split.X_train, split.X_val)
    settings = {"n_estimators": BOOSTING_ROUNDS, "early_stopping": EARLY_STOPPING}
    model = lightgbm.LGBMRegressor(
        n_estimators=BOOSTING_ROUNDS, random_state=run.seed, verbose=-1, **run.jobs("n_jobs")
    )
    stopping = lightgbm.early_stopping(EARLY_STOPPING, verbose=False)
    validation = _lightgbm_validation(model, X_val, split.y_val)
    model.fit(X_train, split.y_train, callbacks=[stopping], **validation)

    def predict(X: pd.DataFrame) -> np.ndarray:
        (_, X_ready) = with_categories(split.X_train, X)
        return np.asarray(model.predict(X_ready, num_iteration=model.best_iteration_))

    return Fitted(predict, settings, {"best_iteration": int(model.best_iteration_)})


def _lightgbm_validation(model: Any, X_val: pd.DataFrame, y_val: Any) -> dict[str, Any]:
    """LightGBM 4.7 renamed eval_set to eval_X / eval_y; older versions know only eval_set."""
    if "eval_X" in inspect.signature(model.fit).parameters:
        return {"eval_X": (X_val,), "eval_y": (y_val,)}
    return {"eval_set": [(X_val, y_val)]}


def fit_xgboost(split: Split, run: Run) -> Fitted:
    import xgboost

    X_train, X_val = with_categories(split.X_train, split.X_val)
    settings = {
        "n_estimators": BOOSTING_ROUNDS,
        "early_stopping_rounds": EARLY_STOPPING,
        "enable_categorical": True,
    }
    model = xgboost.XGBRegressor(**settings, random_state=run.seed, **run.jobs("n_jobs"))
    model.fit(X_train, split.y_train, eval_set=[(X_val, split.y_val)], verbose=False)

    def predict(X: pd.DataFrame) -> np.ndarray:  # the best iteration, as xgboost's predict does
        (_, X_ready) = with_categories(split.X_train, X)
        return np.asarray(model.predict(X_ready))

    return Fitted(predict, settings, {"best_iteration": int(model.best_iteration)})


def _catboost_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as text with missing as its own value (CatBoost refuses NaN there)."""
    out = _as_text(frame)
    for name in categorical_columns(out):
        out[name] = out[name].fillna(MISSING).astype(str)
    return out


def fit_catboost(split: Split, run: Run) -> Fitted:
    import catboost

    X_train, X_val = _catboost_frame(split.X_train), _catboost_frame(split.X_val)
    categorical = categorical_columns(X_train)
    settings = {
        "iterations": BOOSTING_ROUNDS,
        "early_stopping_rounds": EARLY_STOPPING,
        "cat_features": categorical,
        "use_best_model": True,
    }
    model = catboost.CatBoostRegressor(
        **settings,
        random_seed=run.seed,
        verbose=0,
        allow_writing_files=False,
        **run.jobs("thread_count"),
    )
    model.fit(X_train, split.y_train, eval_set=(X_val, split.y_val))

    def predict(X: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(_catboost_frame(X)))

    details = {
        "best_iteration": int(model.get_best_iteration()),
        "learning_rate": float(model.learning_rate_),
    }
    return Fitted(predict, settings, details)


# ------------------------------------------------------------------ scikit-learn models
def _fit_pipeline(split: Split, regressor: Any) -> Predict:
    from sklearn.pipeline import make_pipeline

    X_train = _as_text(split.X_train)
    model = make_pipeline(_column_transformer(X_train), regressor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at the default 200 epochs
        model.fit(X_train, split.y_train.to_numpy())
    return lambda X: np.asarray(model.predict(_as_text(X)), dtype=np.float64)


def fit_sklearn_mlp(split: Split, run: Run) -> Fitted:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler

    regressor = TransformedTargetRegressor(
        MLPRegressor(random_state=run.seed), transformer=StandardScaler()
    )
    settings = {"MLPRegressor": "defaults", "early_stopping": False, "target": "standardised"}
    return Fitted(_fit_pipeline(split, regressor), settings)


def fit_ridge(split: Split, run: Run) -> Fitted:
    from sklearn.linear_model import RidgeCV

    settings = {"alphas": "logspace(-3, 3, 13)"}
    return Fitted(_fit_pipeline(split, RidgeCV(alphas=RIDGE_ALPHAS)), settings)


# ---------------------------------------------------------------------------- RealMLP
def _realmlp_frame(
    frame: pd.DataFrame, medians: pd.Series, vocabularies: dict[str, list[str]]
) -> pd.DataFrame:
    """Median-imputed numbers; categories over the training split's values, with missing and
    unseen values as one more category."""
    out = _as_text(frame)
    for name, values in vocabularies.items():
        known = out[name].where(out[name].isin(values), MISSING)
        out[name] = pd.Categorical(known, categories=[*values, MISSING])
    out[list(medians.index)] = out[list(medians.index)].astype("float64").fillna(medians)
    return out


def fit_realmlp(split: Split, run: Run) -> Fitted:
    from pytabkit import RealMLP_TD_Regressor

    train_text = _as_text(split.X_train)
    categorical = categorical_columns(train_text)
    numeric = [c for c in train_text.columns if c not in categorical]
    medians = train_text[numeric].astype("float64").median().fillna(0.0)
    vocabularies = {c: sorted(train_text[c].dropna().unique()) for c in categorical}
    X_train = _realmlp_frame(split.X_train, medians, vocabularies)
    X_val = _realmlp_frame(split.X_val, medians, vocabularies)
    model = RealMLP_TD_Regressor(random_state=run.seed, verbosity=0, **run.jobs("n_threads"))
    model.fit(X_train, split.y_train.to_numpy(), X_val=X_val, y_val=split.y_val.to_numpy())

    def predict(X: pd.DataFrame) -> np.ndarray:
        ready = _realmlp_frame(X, medians, vocabularies)
        return np.asarray(model.predict(ready), dtype=np.float64).ravel()

    settings = {"RealMLP_TD_Regressor": "defaults", "validation": "X_val, y_val"}
    return Fitted(predict, settings)


# ------------------------------------------------------------------------------- TabM
@dataclass
class TabMInputs:
    """TabM's preprocessing, fitted on the training split."""

    numeric: list[str]
    categorical: list[str]
    medians: pd.Series
    vocabularies: dict[str, dict[str, int]]
    quantiles: Any

    @classmethod
    def fit(cls, frame: pd.DataFrame, seed: int) -> TabMInputs:
        from sklearn.preprocessing import QuantileTransformer

        text = _as_text(frame)
        categorical = categorical_columns(text)
        numeric = [c for c in text.columns if c not in categorical]
        values = text[numeric].astype("float64")
        numeric = [c for c in numeric if values[c].nunique() > 1]  # constants carry nothing
        medians = values[numeric].median()
        vocabularies = {
            name: {v: i for i, v in enumerate(sorted(text[name].dropna().unique()))}
            for name in categorical
        }
        quantiles = None
        if numeric:
            filled = values[numeric].fillna(medians).to_numpy()
            noise = np.random.default_rng(seed).normal(0.0, 1e-5, filled.shape)
            quantiles = QuantileTransformer(
                n_quantiles=max(min(len(filled) // 30, 1000), 10),
                output_distribution="normal",
                subsample=10**9,
                random_state=seed,
            ).fit(filled + noise)
        return cls(numeric, categorical, medians, vocabularies, quantiles)

    @property
    def cardinalities(self) -> list[int]:
        """Each category list plus one code for missing or unseen values."""
        return [len(self.vocabularies[name]) + 1 for name in self.categorical]

    def transform(self, frame: pd.DataFrame) -> tuple[Any, Any]:
        import torch

        text = _as_text(frame)
        x_num = None
        if self.numeric:
            filled = text[self.numeric].astype("float64").fillna(self.medians).to_numpy()
            x_num = torch.as_tensor(self.quantiles.transform(filled), dtype=torch.float32)
        x_cat = None
        if self.categorical:
            codes = [
                text[name].map(self.vocabularies[name]).fillna(len(self.vocabularies[name]))
                for name in self.categorical
            ]
            x_cat = torch.as_tensor(np.column_stack(codes).astype(np.int64))
        return x_num, x_cat


def _tabm_model(inputs: TabMInputs, x_num: Any) -> Any:
    import rtdl_num_embeddings
    import tabm

    embeddings = None
    if x_num is not None:
        embeddings = rtdl_num_embeddings.PiecewiseLinearEmbeddings(
            rtdl_num_embeddings.compute_bins(x_num, n_bins=min(TABM_BINS, len(x_num) - 1)),
            d_embedding=16,
            activation=False,
            version="B",
        )
    return tabm.TabM.make(
        n_num_features=len(inputs.numeric),
        cat_cardinalities=inputs.cardinalities,
        d_out=1,
        num_embeddings=embeddings,
    )


def _tabm_predict(model: Any, x_num: Any, x_cat: Any) -> np.ndarray:
    """The mean of the k heads, in standardised target units."""
    import torch

    model.eval()
    n_rows = len(x_num) if x_num is not None else len(x_cat)
    parts = []
    with torch.inference_mode():
        for rows in torch.arange(n_rows).split(TABM_EVAL_BATCH):
            out = model(
                None if x_num is None else x_num[rows], None if x_cat is None else x_cat[rows]
            )
            parts.append(out.squeeze(-1).mean(1))
    return torch.cat(parts).numpy().astype(np.float64)


def fit_tabm(split: Split, run: Run) -> Fitted:
    import torch

    torch.manual_seed(run.seed)
    inputs = TabMInputs.fit(split.X_train, run.seed)
    x_num, x_cat = inputs.transform(split.X_train)
    val_num, val_cat = inputs.transform(split.X_val)
    mean, std = float(split.y_train.mean()), float(split.y_train.std()) or 1.0
    y = torch.as_tensor(((split.y_train - mean) / std).to_numpy(), dtype=torch.float32)
    y_val = split.y_val.to_numpy()
    model = _tabm_model(inputs, x_num)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=3e-4)
    start, best, best_state, epoch, waited, stop = time.perf_counter(), math.inf, None, 0, 0, ""
    while not stop:
        model.train()
        for rows in torch.randperm(len(y)).split(TABM_BATCH):
            optimizer.zero_grad()
            out = model(
                None if x_num is None else x_num[rows], None if x_cat is None else x_cat[rows]
            )
            out = out.squeeze(-1)  # (batch, k): every head learns on its own
            loss = torch.nn.functional.mse_loss(out.flatten(), y[rows].repeat_interleave(model.k))
            loss.backward()
            optimizer.step()
            if run.time_limit is not None and time.perf_counter() - start > run.time_limit:
                stop = "time_limit"
                break
        epoch += 1
        rmse = float(
            np.sqrt(np.mean((_tabm_predict(model, val_num, val_cat) * std + mean - y_val) ** 2))
        )
        if rmse < best:
            best, best_state, waited = rmse, copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            stop = stop or ("early_stopping" if waited > TABM_PATIENCE else "")
    if best_state is not None:
        model.load_state_dict(best_state)

    def predict(X: pd.DataFrame) -> np.ndarray:
        return _tabm_predict(model, *inputs.transform(X)) * std + mean

    settings = {
        "TabM.make": "defaults (k=32)",
        "num_embeddings": f"PiecewiseLinearEmbeddings({TABM_BINS} bins, d_embedding=16, B)",
        "optimizer": "AdamW(lr=2e-3, weight_decay=3e-4)",
        "batch_size": TABM_BATCH,
        "patience": TABM_PATIENCE,
        "time_limit": run.time_limit,
    }
    return Fitted(predict, settings, {"epochs": epoch, "stop_reason": stop, "val_rmse": best})


# --------------------------------------------------------------------- classification
def label_codes(split: Split) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The agreed class order and the training and validation labels as their codes in it."""
    classes = class_order(split.y_train)
    codes = {label: code for code, label in enumerate(classes)}
    return classes, split.y_train.map(codes).to_numpy(), split.y_val.map(codes).to_numpy()


def align_columns(proba: Any, have: Sequence[Any], want: Sequence[Any]) -> np.ndarray:
    """Probabilities whose columns are the classes ``have`` (a model's ``classes_``), as
    columns in the order ``want``; a class the model never saw gets probability 0."""
    proba = np.asarray(proba, dtype=np.float64)
    position = {label: column for column, label in enumerate(list(have))}
    out = np.zeros((len(proba), len(want)))
    for column, label in enumerate(want):
        if label in position:
            out[:, column] = proba[:, position[label]]
    return out


def fit_lightgbm_classifier(split: Split, run: Run) -> Fitted:
    import lightgbm

    classes, y_train, y_val = label_codes(split)
    X_train, X_val = with_categories(split.X_train, split.X_val)
    settings = {"n_estimators": BOOSTING_ROUNDS, "early_stopping": EARLY_STOPPING}
    model = lightgbm.LGBMClassifier(
        n_estimators=BOOSTING_ROUNDS, random_state=run.seed, verbose=-1, **run.jobs("n_jobs")
    )
    stopping = lightgbm.early_stopping(EARLY_STOPPING, verbose=False)
    model.fit(X_train, y_train, callbacks=[stopping], **_lightgbm_validation(model, X_val, y_val))

    def predict(X: pd.DataFrame) -> np.ndarray:
        (_, X_ready) = with_categories(split.X_train, X)
        proba = model.predict_proba(X_ready, num_iteration=model.best_iteration_)
        return align_columns(proba, model.classes_, range(len(classes)))

    return Fitted(predict, settings, {"best_iteration": int(model.best_iteration_)})


def fit_xgboost_classifier(split: Split, run: Run) -> Fitted:
    import xgboost

    classes, y_train, y_val = label_codes(split)
    X_train, X_val = with_categories(split.X_train, split.X_val)
    settings = {
        "n_estimators": BOOSTING_ROUNDS,
        "early_stopping_rounds": EARLY_STOPPING,
        "enable_categorical": True,
    }
    model = xgboost.XGBClassifier(**settings, random_state=run.seed, **run.jobs("n_jobs"))
    model.fit(X_train, y_train, eval_set=[(X_val, y_val)], verbose=False)

    def predict(X: pd.DataFrame) -> np.ndarray:  # the best iteration, as predict_proba does
        (_, X_ready) = with_categories(split.X_train, X)
        return align_columns(model.predict_proba(X_ready), model.classes_, range(len(classes)))

    return Fitted(predict, settings, {"best_iteration": int(model.best_iteration)})


def fit_catboost_classifier(split: Split, run: Run) -> Fitted:
    import catboost

    classes, y_train, y_val = label_codes(split)
    X_train, X_val = _catboost_frame(split.X_train), _catboost_frame(split.X_val)
    settings = {
        "iterations": BOOSTING_ROUNDS,
        "early_stopping_rounds": EARLY_STOPPING,
        "cat_features": categorical_columns(X_train),
        "use_best_model": True,
    }
    model = catboost.CatBoostClassifier(
        **settings,
        random_seed=run.seed,
        verbose=0,
        allow_writing_files=False,
        **run.jobs("thread_count"),
    )
    model.fit(X_train, y_train, eval_set=(X_val, y_val))

    def predict(X: pd.DataFrame) -> np.ndarray:
        proba = model.predict_proba(_catboost_frame(X))
        return align_columns(proba, model.classes_, range(len(classes)))

    details = {
        "best_iteration": int(model.get_best_iteration()),
        "learning_rate": float(model.learning_rate_),
        "loss_function": str(model.get_all_params().get("loss_function")),
    }
    return Fitted(predict, settings, details)


def fit_logistic(split: Split, run: Run) -> Fitted:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    classes, y_train, _ = label_codes(split)
    X_train = _as_text(split.X_train)
    logistic = LogisticRegression(max_iter=LOGISTIC_MAX_ITER)
    model = make_pipeline(_column_transformer(X_train), logistic)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X_train, y_train)

    def predict(X: pd.DataFrame) -> np.ndarray:
        proba = model.predict_proba(_as_text(X))
        return align_columns(proba, logistic.classes_, range(len(classes)))

    settings = {"LogisticRegression": "defaults (C=1.0, lbfgs)", "max_iter": LOGISTIC_MAX_ITER}
    iterations = int(np.max(logistic.n_iter_))
    details = {"iterations": iterations, "converged": iterations < LOGISTIC_MAX_ITER}
    return Fitted(predict, settings, details)


PEERS: dict[str, Peer] = {
    "lightgbm": Peer(fit_lightgbm, ("lightgbm",)),
    "xgboost": Peer(fit_xgboost, ("xgboost",)),
    "catboost": Peer(fit_catboost, ("catboost",)),
    "sklearn-mlp": Peer(fit_sklearn_mlp, ("sklearn",), ("sklearn.neural_network",)),
    "ridge": Peer(fit_ridge, ("sklearn",), ("sklearn.linear_model", "sklearn.compose")),
    "realmlp": Peer(fit_realmlp, ("pytabkit",), ("pytabkit.models.sklearn", "pytorch_lightning")),
    "tabm": Peer(fit_tabm, ("tabm", "rtdl_num_embeddings")),
}
CLASSIFIERS: dict[str, Peer] = {
    "lightgbm": Peer(fit_lightgbm_classifier, ("lightgbm",)),
    "xgboost": Peer(fit_xgboost_classifier, ("xgboost",)),
    "catboost": Peer(fit_catboost_classifier, ("catboost",)),
    "logistic": Peer(fit_logistic, ("sklearn",), ("sklearn.linear_model", "sklearn.compose")),
}
PEERS_BY_TASK: dict[str, dict[str, Peer]] = {REGRESSION: PEERS, CLASSIFICATION: CLASSIFIERS}
GBDTS = ("lightgbm", "xgboost", "catboost")


def _peer(name: str) -> Peer:
    """Peer ``name`` (a regression or a classification one: both need the same modules)."""
    return PEERS[name] if name in PEERS else CLASSIFIERS[name]


def missing_modules(name: str) -> list[str]:
    """The modules peer ``name`` needs that are not installed here."""
    return [m for m in _peer(name).modules if importlib.util.find_spec(m) is None]


def warm_up(name: str) -> None:
    """Import peer ``name``'s libraries now, so that no fit's seconds include an import, and
    quieten Lightning's per-fit banners (pytabkit trains with it)."""
    for module in (*_peer(name).modules, *_peer(name).warm):
        if importlib.util.find_spec(module.split(".")[0]) is not None:
            importlib.import_module(module)
    for logger in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        logging.getLogger(logger).setLevel(logging.ERROR)
