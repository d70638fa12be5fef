"""The classification part of benchmarks/accuracy.py: deepfit's classifier entry, the scores
and the markdown tables.

deepfit's entry calls the planned API ``deepfit.Classifier(time_limit=T, random_state=seed)
.fit(X_train, y_train, X_val=X_val, y_val=y_val)`` and ``predict_proba`` (one column per class
in the order of ``classes_``), whose columns are mapped onto the agreed class order (the sorted
training labels) by ``classes_``. While the installed deepfit has no such Classifier, the entry
is skipped with a one-line message, as any entry the installed deepfit cannot run.

Scores on the test split: accuracy (of the most probable class), log-loss (scikit-learn's, with
``labels`` = every class and its clipping of the probabilities), balanced accuracy, ROC AUC
(of the second class's probability for two classes, macro one-vs-rest for more) and the fit
seconds. The bar: deepfit-auto's mean log-loss below logistic regression's, its mean accuracy
at most 1 point below LightGBM's and its log-loss at most 1.10x LightGBM's, every fit within
300 s.
"""

from __future__ import annotations

import importlib.util
import statistics
import warnings
from collections import defaultdict
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from accuracy_data import STRATIFIED_SPLIT_TEXT, Split, class_order
from accuracy_peers import Fitted, Run, align_columns

REFERENCE = "deepfit-auto"
# deepfit's classification entries: name -> Classifier keyword arguments (time_limit and
# random_state are added); the planned API's defaults are auto.
DEEPFIT_CLASSIFIERS: dict[str, dict[str, Any]] = {
    REFERENCE: {},
    "deepfit-auto-bins32": {"model_options": {"n_bins": 32}},  # auto's bins before 2026-11-30
}
BAR_POINTS = 1.0  # accuracy at most this many points below LightGBM's
BAR_LOG_LOSS_RATIO = 1.10  # log-loss at most this times LightGBM's
BAR_SECONDS = 300.0
NONE = "-"  # a table cell without a result


SET_LEVEL = 0.9  # deepfit's prediction sets are checked at this level


def one_line(error: BaseException | Warning | str) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return " ".join(text.split())[:300]


# ------------------------------------------------------------------------ deepfit's entry
@cache
def classifier_refusal(name: str) -> str | None:
    """Why the installed deepfit cannot run classification entry ``name`` (None: it can).

    It needs ``deepfit.Classifier`` with ``time_limit`` and ``random_state``, a fit that takes
    ``X_val, y_val``, and ``predict_proba`` and ``classes_``: checked by a fit on 64 synthetic
    rows (one epoch where the Classifier takes ``max_epochs``, else 10 seconds at most).
    """
    if importlib.util.find_spec("deepfit") is None:
        return "deepfit is not installed in this environment"
    try:
        from deepfit import Classifier
    except ImportError:
        return "this deepfit has no Classifier (`from deepfit import Classifier` fails)"
    try:
        params = set(Classifier().get_params())
    except Exception as error:
        return f"this deepfit's Classifier() fails: {one_line(error)}"
    kwargs = DEEPFIT_CLASSIFIERS[name]
    unknown = sorted({*kwargs, "time_limit", "random_state"} - params)
    if unknown:
        return f"this deepfit's Classifier has no parameter {', '.join(unknown)}"
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=64), "b": rng.choice(["x", "y"], 64)})
    y = pd.Series(np.where(X["a"] > 0, "yes", "no"))
    quick = {"max_epochs": 1} if "max_epochs" in params else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Classifier(**kwargs, **quick, time_limit=10, random_state=0)
            model.fit(X, y, X_val=X, y_val=y)
            proba = np.asarray(model.predict_proba(X))
            classes = list(model.classes_)
    except Exception as error:  # the planned API is still being built: skip, do not crash
        return f"this deepfit's Classifier fails a 64-row check: {one_line(error)}"
    if proba.shape != (64, 2) or sorted(map(str, classes)) != ["no", "yes"]:
        return f"this deepfit's predict_proba gave {proba.shape}, classes_ {classes}"
    return None


def fit_deepfit_classifier(name: str, split: Split, run: Run) -> Fitted:
    """deepfit's Classifier with the validation split; probabilities in the agreed order."""
    from deepfit import Classifier

    classes = class_order(split.y_train)
    model = Classifier(
        **DEEPFIT_CLASSIFIERS[name], time_limit=run.time_limit, random_state=run.seed
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(split.X_train, split.y_train, X_val=split.X_val, y_val=split.y_val)
    summary = dict(getattr(model, "training_summary_", None) or {})
    summary.pop("members", None)
    params = dict(getattr(model, "settings_", None) or {})  # every setting as resolved
    embedding = params.get("numeric_embedding")
    details = {
        "architecture": f"{params.get('model')}" + (f" + {embedding}" if embedding else ""),
        "network_params": params,
        "training_summary": summary,
        "classes_": [str(label) for label in model.classes_],
        "warnings": sorted({one_line(w.message) for w in caught})[:5],
        **set_fields(model, split),
    }

    def predict(X: pd.DataFrame) -> np.ndarray:
        return align_columns(model.predict_proba(X), list(model.classes_), classes)

    return Fitted(predict, model.get_params(), details)


def set_fields(model: Any, split: Split) -> dict[str, Any]:
    """How the model's 0.9 conformal prediction sets do on the test rows (unseen in training):
    the share of rows whose set holds the true label, and the mean set size."""
    try:
        sets = model.predict_sets(split.X_test, SET_LEVEL)
    except Exception as error:  # no calibration rows, or a level they cannot support
        return {"set_error": one_line(error)}
    truth = np.searchsorted(np.asarray(model.classes_), np.asarray(split.y_test))
    covered = sets[np.arange(len(truth)), np.clip(truth, 0, sets.shape[1] - 1)]
    return {
        "set_level": SET_LEVEL,
        "set_coverage": float(covered.mean()),
        "set_size": float(sets.sum(axis=1).mean()),
    }


# --------------------------------------------------------------------------------- scores
def class_fields(y: pd.Series) -> dict[str, Any]:
    """What a classification record says about its target (over the whole table)."""
    counts = y.value_counts()
    return {
        "split": STRATIFIED_SPLIT_TEXT,
        "n_classes": int(y.nunique()),
        "class_counts": {str(label): int(counts[label]) for label in class_order(y)},
    }


def classification_scores(y_true: pd.Series, proba: Any, classes: list[Any]) -> dict[str, Any]:
    """Accuracy, log-loss, balanced accuracy and ROC AUC of probabilities whose columns are
    ``classes`` (rows that sum to 1 within 1e-3, renormalised); ROC AUC is None where the test
    split lacks a class."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss, roc_auc_score

    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape != (len(y_true), len(classes)):
        expected = (len(y_true), len(classes))
        raise ValueError(f"probabilities of shape {proba.shape}, not {expected}")
    if not np.isfinite(proba).all():
        raise ValueError("the probabilities are not finite")
    totals = proba.sum(axis=1, keepdims=True)
    if np.abs(totals - 1.0).max() > 1e-3:
        raise ValueError(f"probabilities whose rows sum to {totals.min():.4g}..{totals.max():.4g}")
    proba = proba / totals  # float32 rounding (XGBoost, torch) off by ~1e-7: sklearn warns
    codes = y_true.map({label: code for code, label in enumerate(classes)})
    if codes.isna().any():
        raise ValueError(f"test labels unseen in training: {sorted(set(y_true) - set(classes))}")
    codes, labels, chosen = codes.to_numpy(dtype=np.int64), np.arange(len(classes)), proba.argmax(1)
    try:
        with warnings.catch_warnings():  # newer scikit-learn warns and gives NaN, older raise
            warnings.simplefilter("ignore")
            auc = float(
                roc_auc_score(codes, proba[:, 1])
                if len(classes) == 2
                else roc_auc_score(codes, proba, multi_class="ovr", average="macro", labels=labels)
            )
    except ValueError:
        auc = None
    return {
        "accuracy": float(accuracy_score(codes, chosen)),
        "log_loss": float(log_loss(codes, proba, labels=labels)),
        "balanced_accuracy": float(balanced_accuracy_score(codes, chosen)),
        "roc_auc": auc if auc is not None and np.isfinite(auc) else None,
    }


def outcome(record: dict[str, Any]) -> str:
    """The progress line's scores of one classification fit."""
    return f"accuracy {record['accuracy']:.2%}, log-loss {record['log_loss']:.4f}"


# -------------------------------------------------------------------------------- tables
def _mean_std(values: list[float], digits: int, scale: float = 1.0) -> str:
    values = [v * scale for v in values]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {spread:.{digits}f}"


def _by_model(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        runs[record["model"]].append(record)
    return runs


def _means(ok: dict[str, list[dict[str, Any]]], field: str) -> dict[str, float]:
    return {m: statistics.fmean(r[field] for r in rs) for m, rs in ok.items() if rs}


def dataset_table(records: list[dict[str, Any]]) -> str:
    """One markdown table: a row per model, sorted by mean test log-loss."""
    first = records[0]
    every = _by_model(records)
    ok = {m: [r for r in rs if r.get("status") == "ok"] for m, rs in every.items()}
    log_loss = _means(ok, "log_loss")
    order = sorted(every, key=lambda m: (m not in log_loss, log_loss.get(m, 0.0), m))
    counts = first.get("class_counts", {})
    total = sum(counts.values()) or 1
    shares = ", ".join(f"{label} {count / total:.1%}" for label, count in counts.items())
    setting = f", subsample of {first['max_rows']:,} rows" if first.get("max_rows") else ""
    setting += f", {first['threads']} thread(s) per fit" if first.get("threads") else ""
    lines = [
        f"### {first['dataset']}: {first['rows_total']:,} rows, {first['n_features']} features, "
        f"target `{first['target']}`, {len(counts)} classes ({shares}) "
        f"(time limit {first['time_limit']:g} s{setting})",
        "",
        "| model | accuracy % | log-loss | balanced accuracy % | ROC AUC | train s | seeds "
        "| notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [_table_row(model, ok[model], every[model]) for model in order]
    return "\n".join([*lines, "", _reference_line(ok), ""])


def _table_row(model: str, ok: list[dict[str, Any]], every: list[dict[str, Any]]) -> str:
    label = f"**→ {model}**" if model == REFERENCE else model
    failed = [r for r in every if r.get("status") != "ok"]
    notes = [f"{len(failed)} failed: {failed[-1].get('error', '?')[:120]}"] if failed else []
    chosen = sorted({str(r["details"].get("architecture")) for r in ok if "details" in r})
    if model.startswith("deepfit") and chosen and chosen != ["None"]:
        notes.append("network: " + ", ".join(chosen))
    if not ok:
        return f"| {label} | failed | | | | | 0 | {'; '.join(notes)} |"
    aucs = [r["roc_auc"] for r in ok if r.get("roc_auc") is not None]
    cells = [
        label,
        _mean_std([r["accuracy"] for r in ok], 2, 100.0),
        _mean_std([r["log_loss"] for r in ok], 4),
        _percent(statistics.fmean(r["balanced_accuracy"] for r in ok)),
        f"{statistics.fmean(aucs):.4f}" if aucs else NONE,
        f"{statistics.fmean(r['train_seconds'] for r in ok):,.1f}",
        str(len(ok)),
        "; ".join(notes),
    ]
    return "| " + " | ".join(cells) + " |"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.2f}"


def _reference_line(ok: dict[str, list[dict[str, Any]]]) -> str:
    """deepfit-auto's accuracy and log-loss against LightGBM's and logistic regression's."""
    if not ok.get(REFERENCE):
        return f"{REFERENCE} has no successful fit here."
    accuracy, log_loss = _means(ok, "accuracy"), _means(ok, "log_loss")
    text = f"{REFERENCE}: accuracy {accuracy[REFERENCE]:.2%}, log-loss {log_loss[REFERENCE]:.4f}"
    if "lightgbm" in accuracy:
        points = (accuracy[REFERENCE] - accuracy["lightgbm"]) * 100
        text += (
            f"; {points:+.2f} points and {log_loss[REFERENCE] / log_loss['lightgbm']:.3f}x the "
            f"log-loss of LightGBM ({accuracy['lightgbm']:.2%}, {log_loss['lightgbm']:.4f})"
        )
    if "logistic" in log_loss:
        below = "below" if log_loss[REFERENCE] < log_loss["logistic"] else "not below"
        text += f"; {below} logistic regression's log-loss ({log_loss['logistic']:.4f})"
    return text + "."


def summary_table(groups: dict[tuple[Any, ...], list[dict[str, Any]]], keys: list[Any]) -> str:
    """One row per classification dataset: auto against LightGBM and logistic, and the bar."""
    lines = [
        "## Classification summary: deepfit-auto against LightGBM and logistic regression",
        "",
        f"The bar: a mean test log-loss below logistic regression's, a mean accuracy at most "
        f"{BAR_POINTS:g} point below LightGBM's and a log-loss at most {BAR_LOG_LOSS_RATIO:.2f}x "
        f"LightGBM's; every fit within {BAR_SECONDS:g} s. Accuracy in %, the difference in "
        "percentage points.",
        "",
        "| dataset | classes | auto accuracy | auto log-loss | LightGBM accuracy "
        "| LightGBM log-loss | logistic accuracy | logistic log-loss "
        "| auto vs LightGBM accuracy (points) | auto / LightGBM log-loss "
        "| auto beats logistic log-loss | auto s (max) | auto 0.9-set coverage (size) "
        "| seeds | bar |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for key in keys:
        runs = _by_model([r for r in groups[key] if r.get("status") == "ok"])
        accuracy, log_loss = _means(runs, "accuracy"), _means(runs, "log_loss")
        n_classes = groups[key][0].get("n_classes", "?")
        cells = [key[0], str(n_classes)]
        for model in (REFERENCE, "lightgbm", "logistic"):
            found = model in accuracy
            cells += [_percent(accuracy[model]) if found else NONE]
            cells += [f"{log_loss[model]:.4f}" if found else NONE]
        cells += _comparison(runs, accuracy, log_loss)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _comparison(
    runs: dict[str, list[dict[str, Any]]], accuracy: dict[str, float], log_loss: dict[str, float]
) -> list[str]:
    """The cells from 'auto vs LightGBM accuracy' to 'bar' of one summary row."""
    ours = runs.get(REFERENCE, [])
    if not ours:
        return [NONE, NONE, NONE, NONE, NONE, "0", f"no {REFERENCE} result"]
    auto_accuracy, auto_log_loss = accuracy[REFERENCE], log_loss[REFERENCE]
    slowest = max(r["train_seconds"] for r in ours)
    missed = []
    if "lightgbm" in accuracy:
        points = (auto_accuracy - accuracy["lightgbm"]) * 100
        ratio = auto_log_loss / log_loss["lightgbm"]
        cells = [f"{points:+.2f}", f"{ratio:.3f}x"]
        missed += ["accuracy"] * (points < -BAR_POINTS)
        missed += ["log-loss vs LightGBM"] * (ratio > BAR_LOG_LOSS_RATIO)
    else:
        cells, missed = [NONE, NONE], ["no LightGBM result"]
    if "logistic" in log_loss:
        beats = auto_log_loss < log_loss["logistic"]
        cells.append("yes" if beats else "**no**")
        missed += ["log-loss vs logistic"] * (not beats)
    else:
        cells.append(NONE)
        missed.append("no logistic result")
    missed += ["time"] * (slowest > BAR_SECONDS)
    verdict = "met" if not missed else "**missed**: " + ", ".join(missed)
    verdict = verdict if len(ours) >= 3 else "fewer than 3 seeds"
    return [*cells, f"{slowest:,.0f}", _coverage(ours), str(len(ours)), verdict]


def _coverage(ours: list[dict[str, Any]]) -> str:
    """The mean coverage (and set size) of auto's 0.9 sets over its seeds."""
    found = [r["details"] for r in ours if "set_coverage" in r.get("details", {})]
    if not found:
        return NONE
    coverage = float(np.mean([d["set_coverage"] for d in found]))
    size = float(np.mean([d["set_size"] for d in found]))
    return f"{coverage:.1%} ({size:.2f})"


def report(groups: dict[tuple[Any, ...], list[dict[str, Any]]], keys: list[Any]) -> str:
    """The classification part of accuracy.md: its summary, then one table per dataset."""
    intro = (
        "## Classification\n\n"
        f"Split: {STRATIFIED_SPLIT_TEXT}. Accuracy (of the most probable class) and log-loss "
        "(scikit-learn's, over every class, probabilities clipped as it does) are the mean ± "
        "standard deviation over seeds; balanced accuracy and ROC AUC (binary: of the second "
        "class in sorted order; three or more classes: macro one-vs-rest) are means. Every "
        "model returns probabilities in the sorted order of the training labels. LightGBM, "
        "XGBoost and CatBoost are the classifiers with the regressors' settings; logistic is "
        "scikit-learn's LogisticRegression (defaults, max_iter 10,000) after imputation, "
        "scaling and one-hot encoding. Rows are sorted by log-loss.\n\n"
    )
    tables = "\n".join(dataset_table(groups[key]) for key in keys)
    return intro + summary_table(groups, keys) + "\n## Classification per dataset\n\n" + tables
