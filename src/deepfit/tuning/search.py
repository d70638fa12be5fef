"""``tune``: search a model's settings with Optuna, then keep and test the best model.

Example:
    >>> from deepfit.tuning import tune
    >>> result = tune("data.csv", target="y", trials=20, time_limit=600)  # doctest: +SKIP
    >>> result.summary["best_validation_rmse"], result.summary["default_validation_rmse"]
    ...  # doctest: +SKIP
    >>> result.model.save("best.deepfit")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FixedTrial, FrozenTrial

from deepfit.data.io import read_table
from deepfit.data.split import train_validation_test_split
from deepfit.data.target import skewed_positive
from deepfit.errors import ConfigError, DeepfitWarning
from deepfit.estimator import Estimator, estimator_for
from deepfit.estimator.auto import DataShape
from deepfit.estimator.fitting import has_numeric
from deepfit.estimator.served import served_members, teaching_deferred
from deepfit.evaluation.scoring import Parts, evaluate_model, prepare_parts
from deepfit.tasks import make_task
from deepfit.trained import choose_task, drop_unlabelled, split_target
from deepfit.tuning.history import (
    FINISHED,
    best_trial,
    counts,
    default_trial,
    importances,
    improvement,
    trial_records,
    trials_frame,
)
from deepfit.tuning.objective import DEFAULT_ATTR, Objective, Scoring
from deepfit.tuning.space import SearchSpace, base_settings, search_space

STUDY_ATTR = "deepfit"  # the study's user attribute that records what it tunes, to resume safely


@dataclass
class TuningResult:
    """The best model (trained, scored once on the test split), the study, and its summary.

    ``summary`` is also stored in the model as ``model.training_summary_["tuning"]``.
    """

    model: Estimator
    study: optuna.Study
    summary: dict[str, Any]

    @property
    def trials(self) -> pd.DataFrame:
        """Every trial of the study: number, state, value, seconds, default, parameters."""
        return trials_frame(self.study)

    @property
    def improved(self) -> bool | None:
        """Whether the best beat the default settings (None: the default did not complete)."""
        improved: bool | None = self.summary["improved"]
        return improved


def tune(
    data: Any,
    *,
    target: str,
    trials: int = 50,
    time_limit: float = 600.0,
    storage: str | None = None,
    study_name: str | None = None,
    cv: int | None = None,
    seed: int = 0,
    pruner: optuna.pruners.BasePruner | None = None,
    progress: Callable[[FrozenTrial], None] | None = None,
    task: str | None = None,
    **params: Any,
) -> TuningResult:
    """Search the estimator's settings on ``data`` for the best validation score of ``target``.

    - **Task:** ``"regression"`` or ``"classification"``; None infers it from the target.
    - **Split:** seeded 70/15/15 (``seed``, stratified for classification); the test split is
      used once, at the end, to score the best model.
    - **Scoring:** the task's primary metric (RMSE in target units, log-loss) on the
      validation split, or with ``cv=K`` its mean over K-fold cross-validation on train +
      validation.
    - **Search:** Optuna's TPE (seeded) over :mod:`deepfit.tuning.space` for the model in
      ``params``, by default the network auto picks for this data (TabM); trial 0 is the
      base settings (``params`` over what ``deepfit train`` would use: auto's recipe), so the
      search starts from the model training alone gives, and the study says whether it beat
      it. Bad trials are pruned by a median pruner from their learning curves once 3 trials finished
      (``pruner`` replaces it).
    - **Budget:** ``trials`` is the study's total of finished (complete or pruned) trials;
      ``time_limit`` seconds bound this call's search, and each trial's training is capped
      at what is left, so the last one overruns by at most about an epoch.
    - **Resuming:** with ``storage`` (an SQLAlchemy URL: ``sqlite:///tune.db``, or a
      PostgreSQL URL for several machines on one study) and the same ``study_name``, a
      study continues where it stopped. A study made for other data or settings is refused.
      Without ``storage`` the study lives in memory.
    - **Result:** the best trial's model (this session's, or retrained with the same split and
      seed when the best trial ran earlier or was cross-validated), its metrics on each split
      in ``model.metrics_``, and a summary in ``model.training_summary_["tuning"]``.

    ``progress`` is called with each trial when it finishes. Only deepfit's own warnings are
    passed on, once each; Optuna's logging is set to WARNING.
    """
    _check(trials, time_limit, cv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parts, task, X = _parts(data, target, task, seed)
    train_X, train_y = parts["train"]
    validation_y = parts["validation"][1]
    skewed = task == "regression" and skewed_positive(np.asarray(train_y), also=validation_y)
    shape = DataShape(len(train_X), has_numeric(train_X, params.get("column_roles")), skewed)
    base = base_settings({**params, "random_state": seed, "verbose": 0}, task, shape)
    space = search_space(base["model"])
    scoring = Scoring(*parts["train"], *parts["validation"], target=target, cv=cv, task=task)
    pruner = pruner or _pruner(cv, int(base["max_epochs"]))
    study = _open_study(study_name or f"deepfit-{target}", storage, seed, pruner)
    _claim(study, _fingerprint(X, target, cv, seed, base))
    if study.trials:  # a resumed study: new random draws, not the first session's again
        study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    _enqueue_default(study, space, base)

    start = time.monotonic()
    objective = Objective(space, base, scoring, seed=seed, deadline=start + time_limit)
    to_run = max(0, trials - len(study.get_trials(deepcopy=False, states=FINISHED)))
    ran: list[int] = []

    def finished(_: optuna.Study, trial: FrozenTrial) -> None:
        ran.append(trial.number)
        if progress is not None:
            progress(trial)

    if to_run:
        with _deepfit_warnings_once(), teaching_deferred():  # only the kept model is taught
            study.optimize(objective, n_trials=to_run, timeout=time_limit, callbacks=[finished])
    seconds = time.monotonic() - start

    best = best_trial(study)
    if best is None:
        raise ConfigError(
            f"no trial of study '{study.study_name}' completed within {time_limit:g} s; give "
            "the search more time (--time-limit) or train for fewer epochs"
        )
    model, retrained = _best_model(objective, best, space, base, scoring)
    metrics = evaluate_model(model, prepare_parts(model, parts))
    model.metrics_ = {"deepfit": metrics}
    summary = {
        "study_name": study.study_name,
        "storage": _shown(storage),
        "task": task,
        **_scores(study, best, scoring, metrics["test"]),
        "cv": cv,
        "seed": seed,
        "trials": counts(study),
        "trials_this_run": len(ran),
        "importances": importances(study, seed=seed),
        "history": trial_records(study),
        "seconds": round(seconds, 3),
        "time_limit": float(time_limit),
        "within_time_limit": seconds <= time_limit,
        "retrained": retrained,
    }
    model.training_summary_["tuning"] = summary
    return TuningResult(model=model, study=study, summary=summary)


def _parts(data: Any, target: str, task: str | None, seed: int) -> tuple[Parts, str, pd.DataFrame]:
    """The seeded 70/15/15 split of the data (stratified for classification), the task and the
    features."""
    frame = drop_unlabelled(read_table(data), target)
    checker = make_task(choose_task(frame, target, task).task)
    X, y = split_target(frame, target, checker)
    split = train_validation_test_split(len(X), seed=seed, labels=checker.split_labels(y))
    parts: Parts = {
        name: (X.iloc[rows], y[rows])
        for name, rows in (
            ("train", split.train),
            ("validation", split.validation),
            ("test", split.test),
        )
    }
    return parts, checker.name, X


def _open_study(
    name: str, storage: str | None, seed: int, pruner: optuna.pruners.BasePruner
) -> optuna.Study:
    """The study ``name`` in ``storage`` (created, or loaded to continue), minimising."""
    return optuna.create_study(
        study_name=name,
        storage=_storage(storage),
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
        load_if_exists=True,
    )


def _scores(
    study: optuna.Study, best: FrozenTrial, scoring: Scoring, test: dict[str, float]
) -> dict[str, Any]:
    """The summary's scores: the metric, default vs best on validation, the test score."""
    metric = scoring.metric
    default = default_trial(study)
    default_value = None if default is None else default.value
    return {
        "metric": metric,
        "metric_label": scoring.metric_label,
        "scoring": scoring.label,
        "best_trial": best.number,
        "best_params": dict(best.params),
        f"best_validation_{metric}": best.value,
        f"default_validation_{metric}": default_value,
        **improvement(default_value, best.value),
        f"test_{metric}": test[metric],
    }


def _check(trials: int, time_limit: float, cv: int | None) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"trials must be a positive integer (--trials), however: {trials!r}")
    if not time_limit > 0:
        raise ConfigError(f"time_limit must be positive seconds (--time-limit): {time_limit!r}")
    if cv is not None and (isinstance(cv, bool) or not isinstance(cv, int) or cv < 2):
        raise ConfigError(f"cross-validation needs at least 2 folds (--cv), however: {cv!r}")


def _storage(url: str | None) -> optuna.storages.BaseStorage | None:
    """An RDB storage for ``url`` (None: in memory), or a ConfigError that says why not."""
    if url is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    except Exception as error:  # bad URL, missing database driver, unreachable server
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(
            f"cannot open the study storage {_shown(url)}: {first}; give an SQLAlchemy URL "
            "such as sqlite:///tune.db or postgresql://user:password@host/db (--storage)"
        ) from None


def _shown(url: str | None) -> str:
    """The storage URL without its password, for messages and the model file."""
    if url is None:
        return "memory"
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def _pruner(cv: int | None, max_epochs: int) -> optuna.pruners.BasePruner:
    """Median pruning once 3 trials finished; by epoch (holdout) or by fold (cv)."""
    warmup = 1 if cv is not None else max(1, max_epochs // 10)
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup)


def _teach_served(model: Estimator, scoring: Scoring, time_limit: float | None) -> None:
    """Teach the kept trial's served members, which the search left sliced."""
    served = served_members(
        model.network_,
        model.preprocessor_,
        model.task_,
        scoring.X_train,
        scoring.X_val,
        scoring.y_val,
        time_limit=time_limit,
        precision=model.settings_["precision"],
    )
    if served is not None:
        model.training_summary_["served_members"] = served.record
        model.served_network_ = served.network


def _fingerprint(
    X: pd.DataFrame, target: str, cv: int | None, seed: int, base: dict[str, Any]
) -> dict[str, Any]:
    """What a study's values depend on: resuming with anything else would mix scores."""
    settings = {k: v for k, v in base.items() if k not in ("time_limit", "checkpoint_dir")}
    document = {
        "target": target,
        "rows": len(X),
        "columns": [str(c) for c in X.columns],
        "cv": cv,
        "seed": seed,
        "settings": settings,
    }
    normalised: dict[str, Any] = json.loads(json.dumps(document, default=str))
    return normalised


def _claim(study: optuna.Study, fingerprint: dict[str, Any]) -> None:
    """Mark a new study as this search's; refuse to continue one made for another."""
    found = study.user_attrs.get(STUDY_ATTR)
    if found is None:
        study.set_user_attr(STUDY_ATTR, fingerprint)
        return
    differs = [key for key in fingerprint if found.get(key) != fingerprint[key]]
    if differs == ["settings"]:
        old, new = found.get("settings") or {}, fingerprint["settings"]
        differs = [f"'{key}'" for key in new if old.get(key) != new[key]] or differs
    if differs:
        raise ConfigError(
            f"study '{study.study_name}' in this storage was made with other "
            f"{', '.join(differs)}; continue it with the same data and options, or choose "
            "another --study-name"
        )


def _enqueue_default(study: optuna.Study, space: SearchSpace, base: dict[str, Any]) -> None:
    """Queue the base settings as the next trial, unless the study has run or queued them."""
    for trial in study.get_trials(deepcopy=False):
        waiting = trial.state == optuna.trial.TrialState.WAITING
        if trial.user_attrs.get(DEFAULT_ATTR) and (trial.state in FINISHED or waiting):
            return
    study.enqueue_trial(space.default(base), user_attrs={DEFAULT_ATTR: True})


def _best_model(
    objective: Objective,
    best: FrozenTrial,
    space: SearchSpace,
    base: dict[str, Any],
    scoring: Scoring,
) -> tuple[Estimator, bool]:
    """The best trial's model from this session, or the best settings trained again."""
    if objective.best_model is not None and objective.best_trial == best.number:
        model = objective.best_model
        model.set_params(time_limit=base["time_limit"])  # not the share of the budget it had
        _teach_served(model, scoring, base["time_limit"])
        return model, False
    settings = dict(base)
    if not best.user_attrs.get(DEFAULT_ATTR):
        settings.update(space.suggest(FixedTrial(best.params), base))
    model = estimator_for(scoring.task)(**settings)
    model.fit(
        scoring.X_train,
        pd.Series(scoring.y_train, name=scoring.target),
        X_val=scoring.X_val,
        y_val=scoring.y_val,
    )
    return model, True


@contextmanager
def _deepfit_warnings_once() -> Iterator[None]:
    """Collect the warnings of every trial; give deepfit's own once each, at the end."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for message in dict.fromkeys(str(w.message) for w in caught if w.category is DeepfitWarning):
        warnings.warn(message, DeepfitWarning, stacklevel=3)
