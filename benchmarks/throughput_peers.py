"""The fits that benchmarks/throughput.py times, each in a process of its own.

Run by throughput.py as ``python benchmarks/throughput_peers.py '<job as JSON>'``; the last
line of standard output is ``RESULT <JSON>`` (or ``{"error": "<one line>"}``). A job is
either ``{"kind": "epoch", "library", "network", "rows", "short", "long", "threads"}`` (seconds
per epoch and the FLOPs of one training step) or ``{"kind": "tta-lightgbm" | "tta-deepfit",
"dataset", "rows", "limit", "threads"}`` (the time-to-accuracy section).

The data (``training_rows``): diamonds split as benchmarks/epoch_time.py splits it (a
``default_rng(0)`` permutation; the first 64% of the rows train), all of them or the first
``rows``. deepfit gets the raw DataFrame; every peer gets the numbers standardised and
cut / color / clarity one-hot encoded by scikit-learn (TabM: the numbers standardised and the
categories as codes, which its package one-hot encodes itself) and the target standardised,
prepared before the clock starts. Every fit: the network's layers, its batch size, Adam(W) at
1e-3 (weight decay 1e-5, deepfit's default; sklearn's MLP: its L2 ``alpha`` 1e-4), dropout
0.1 after each hidden layer (sklearn's MLP has none; ``mlp-3x256-b256-nodrop`` is its network
for every library), a constant rate, no validation and no
early stopping. deepfit trains in its default precision ("auto": bfloat16 autocast where the
CPU's probe finds it faster; on a GPU for forward passes of at least 20 GFLOP a batch, which
none of these networks has), and as ``deepfit-fp32`` in float32.
A job's ``device`` ("cpu" when absent, or "cuda") is where deepfit, skorch, Keras and TabM train;
each fit is timed until the GPU's queued work is done.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata as metadata
import json
import logging
import os
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-5  # deepfit's fallback for adamw
DROPOUT = 0.1  # deepfit's mlp default
TABM_K, TABM_BINS, TABM_D_EMBEDDING = 16, 32, 16  # deepfit's piecewise defaults: 32 bins, d=16
CATEGORIES = ("cut", "color", "clarity")


@dataclass(frozen=True)
class Network:
    name: str
    layers: tuple[int, ...]
    batch: int
    tabm: bool = False
    dropout: float = DROPOUT


NETWORKS = {
    "mlp-3x256-b256": Network("mlp 3x256, batch 256", (256, 256, 256), 256),
    "mlp-3x256-b1024": Network("mlp 3x256, batch 1,024", (256, 256, 256), 1024),
    "mlp-3x512-b256": Network("mlp 3x512, batch 256", (512, 512, 512), 256),
    # scikit-learn's MLP has no dropout: this is the network it trains, for every library
    "mlp-3x256-b256-nodrop": Network(
        "mlp 3x256, batch 256, no dropout", (256, 256, 256), 256, dropout=0.0
    ),
    "tabm-k16-b512": Network("TabM k=16 + piecewise, 3x256, batch 512", (256,) * 3, 512, True),
}


@dataclass
class Data:
    """The training rows, raw (deepfit's) and prepared (the peers')."""

    frame: pd.DataFrame  # raw features
    target: pd.Series
    X: np.ndarray  # float32: standardised numbers, then one-hot categories
    y: np.ndarray  # float32: the standardised target
    numeric: np.ndarray  # float32: the standardised numbers alone (TabM)
    codes: np.ndarray  # int64: category codes (TabM)
    cardinalities: list[int]
    device: str = "cpu"  # where the torch libraries train

    def head(self, rows: int) -> Data:
        frame, target = self.frame.iloc[:rows], self.target.iloc[:rows]
        X, y, numeric, codes = self.X[:rows], self.y[:rows], self.numeric[:rows], self.codes[:rows]
        return Data(frame, target, X, y, numeric, codes, self.cardinalities, self.device)


def training_rows(rows: int | None) -> tuple[pd.DataFrame, pd.Series]:
    """benchmarks/epoch_time.py's training rows of diamonds (the first ``rows`` of them)."""
    from deepfit.data.datasets import load_diamonds

    frame = load_diamonds()
    order = np.random.default_rng(0).permutation(len(frame))
    train = order[: int(0.64 * len(frame))][:rows]
    return frame.drop(columns="price").iloc[train], frame["price"].iloc[train]


def prepare(frame: pd.DataFrame, target: pd.Series, device: str = "cpu") -> Data:
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = [name for name in frame.columns if name not in CATEGORIES]
    text = frame[list(CATEGORIES)].astype(str)
    numeric = StandardScaler().fit_transform(frame[numbers].to_numpy(np.float64))
    one_hot = OneHotEncoder(sparse_output=False).fit_transform(text)
    codes = np.stack([pd.factorize(text[name], sort=True)[0] for name in CATEGORIES], axis=1)
    values = target.to_numpy(np.float64)
    return Data(
        frame,
        target,
        np.hstack([numeric, one_hot]).astype(np.float32),
        ((values - values.mean()) / values.std()).astype(np.float32),
        numeric.astype(np.float32),
        codes.astype(np.int64),
        [int(text[name].nunique()) for name in CATEGORIES],
        device,
    )


class MLP(nn.Sequential):
    """Linear, ReLU and dropout per hidden layer, then one output: the peers' network."""

    def __init__(self, d_in: int, layers: tuple[int, ...], dropout: float = DROPOUT) -> None:
        parts: list[nn.Module] = []
        for width in layers:
            parts += [nn.Linear(d_in, width), nn.ReLU()]
            if dropout:
                parts.append(nn.Dropout(dropout))
            d_in = width
        super().__init__(*parts, nn.Linear(d_in, 1))


# ------------------------------------------------------------------------- the libraries
# Each fit trains from scratch for ``epochs`` epochs and returns a step for the FLOP count:
# a function that runs one training batch's forward pass (the loss's backward follows).
Step = Callable[[], torch.Tensor]


def fit_deepfit(data: Data, net: Network, epochs: int, precision: str = "auto") -> tuple[Step, Any]:
    from deepfit import Regressor

    settings: dict[str, Any] = {"model": "mlp", "precision": precision}
    if net.tabm:
        settings = {
            "model": "ensemble",
            "numeric_embedding": "piecewise",
            "model_options": {"k": TABM_K},
            "precision": precision,
        }
    model = Regressor(
        **settings,
        hidden_layers=net.layers,
        batch_size=net.batch,
        max_epochs=epochs,
        patience=None,  # no early stopping, hence no validation rows: every row trains
        time_limit=None,
        learning_rate=LEARNING_RATE,
        schedule="constant",
        dropout=net.dropout,
        device=data.device,
        random_state=0,
    )
    model.fit(data.frame, data.target)
    features = model.prepare(data.frame.iloc[: net.batch])
    network = model.network_.requires_grad_(True).train()  # fit leaves it in eval mode
    where = next(network.parameters()).device
    numeric = torch.tensor(features.numeric, device=where)
    codes = torch.tensor(features.categorical, device=where)
    return (lambda: network(numeric=numeric, categorical=codes)), model


def fit_deepfit_fp32(data: Data, net: Network, epochs: int) -> tuple[Step, Any]:
    return fit_deepfit(data, net, epochs, precision="fp32")


def _bare_step(data: Data, net: Network) -> Step:
    """The forward pass of an :class:`MLP` of the same shape, for libraries that are not
    torch modules we can run (sklearn, Keras) or that wrap this very module (skorch)."""
    module = MLP(data.X.shape[1], net.layers, net.dropout)
    batch = torch.from_numpy(data.X[: net.batch])
    return lambda: module(batch)


def fit_sklearn(data: Data, net: Network, epochs: int) -> tuple[Step, Any]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    model = MLPRegressor(
        hidden_layer_sizes=net.layers,
        activation="relu",
        solver="adam",
        learning_rate_init=LEARNING_RATE,
        batch_size=net.batch,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**9,  # never stops before max_iter
        early_stopping=False,
        shuffle=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # "max_iter reached": as asked
        model.fit(data.X, data.y)
    return _bare_step(data, net), model


def fit_skorch(data: Data, net: Network, epochs: int) -> tuple[Step, Any]:
    from skorch import NeuralNetRegressor

    torch.manual_seed(0)
    model = NeuralNetRegressor(
        MLP,
        module__d_in=data.X.shape[1],
        module__layers=net.layers,
        module__dropout=net.dropout,
        max_epochs=epochs,
        lr=LEARNING_RATE,
        optimizer=torch.optim.AdamW,
        optimizer__weight_decay=WEIGHT_DECAY,
        batch_size=net.batch,
        train_split=None,  # no validation split
        iterator_train__shuffle=True,
        device=data.device,
        verbose=0,
    )
    model.fit(data.X, data.y.reshape(-1, 1))
    batch, module = torch.from_numpy(data.X[: net.batch]).to(data.device), model.module_.train()
    return (lambda: module(batch)), model


def fit_keras(data: Data, net: Network, epochs: int) -> tuple[Step, Any]:
    import keras  # KERAS_BACKEND=torch: set by throughput.py for every child

    keras.utils.set_random_seed(0)
    layers: list[Any] = [keras.Input((data.X.shape[1],))]
    for width in net.layers:
        layers.append(keras.layers.Dense(width, activation="relu"))
        if net.dropout:
            layers.append(keras.layers.Dropout(net.dropout))
    model = keras.Sequential([*layers, keras.layers.Dense(1)])
    optimizer = keras.optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(data.X, data.y, batch_size=net.batch, epochs=epochs, verbose=0, shuffle=True)
    return _bare_step(data, net), model


def fit_pytorch_tabular(data: Data, net: Network, epochs: int) -> tuple[Step, Any]:
    from pytorch_tabular import TabularModel
    from pytorch_tabular.config import DataConfig, OptimizerConfig, TrainerConfig
    from pytorch_tabular.models import CategoryEmbeddingModelConfig

    for name in ("pytorch_tabular", "lightning", "pytorch_lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    columns = [f"x{i}" for i in range(data.X.shape[1])]
    frame = pd.DataFrame(data.X, columns=columns).assign(y=data.y)
    model = TabularModel(
        data_config=DataConfig(
            target=["y"], continuous_cols=columns, normalize_continuous_features=False
        ),
        model_config=CategoryEmbeddingModelConfig(
            task="regression",
            layers="-".join(str(width) for width in net.layers),
            activation="ReLU",
            dropout=net.dropout,
            learning_rate=LEARNING_RATE,
            batch_norm_continuous_input=False,  # the same layers as the others: no input norm
            seed=0,
        ),
        optimizer_config=OptimizerConfig(
            optimizer="AdamW", optimizer_params={"weight_decay": WEIGHT_DECAY}
        ),
        trainer_config=TrainerConfig(
            batch_size=net.batch,
            max_epochs=epochs,
            min_epochs=epochs,
            accelerator="cpu",
            devices=1,
            early_stopping=None,
            checkpoints=None,
            load_best=False,
            progress_bar="none",
            seed=0,
            trainer_kwargs={"limit_val_batches": 0, "enable_model_summary": False},
        ),
        verbose=False,
    )
    # it wants validation rows: a batch of the training rows, never scored (limit_val_batches)
    with contextlib.redirect_stdout(sys.stderr):
        model.fit(train=frame, validation=frame.iloc[: net.batch])
    return _bare_step(data, net), model


def fit_tabm(data: Data, net: Network, epochs: int) -> tuple[Step, Any]:
    """The ``tabm`` package's TabM-mini over rtdl's piecewise-linear embeddings, with the
    hand-written loop of its README (each of the k heads scored on its own)."""
    import rtdl_num_embeddings
    import tabm

    torch.manual_seed(0)
    x_num, x_cat = torch.from_numpy(data.numeric), torch.from_numpy(data.codes)
    y = torch.from_numpy(data.y).to(data.device)
    bins = rtdl_num_embeddings.compute_bins(x_num, n_bins=min(TABM_BINS, len(x_num) - 1))
    model = tabm.TabM.make(
        n_num_features=x_num.shape[1],
        cat_cardinalities=data.cardinalities,
        d_out=1,
        num_embeddings=rtdl_num_embeddings.PiecewiseLinearEmbeddings(
            bins, d_embedding=TABM_D_EMBEDDING, activation=False, version="B"
        ),
        arch_type="tabm-mini",
        k=TABM_K,
        n_blocks=len(net.layers),
        d_block=net.layers[0],
        dropout=net.dropout,
    ).to(data.device)
    x_num, x_cat = x_num.to(data.device), x_cat.to(data.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    model.train()
    for _ in range(epochs):
        for rows in torch.randperm(len(y), device=data.device).split(net.batch):
            out = model(x_num[rows], x_cat[rows]).squeeze(-1)  # (batch, k)
            loss = nn.functional.mse_loss(out, y[rows, None].expand_as(out))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return (lambda: model(x_num[: net.batch], x_cat[: net.batch])), model


@dataclass(frozen=True)
class Library:
    fit: Callable[[Data, Network, int], tuple[Step, Any]]
    package: str  # its distribution name, for the version
    module: str  # what it imports
    networks: str = "mlp"  # "mlp", "tabm" or "all"


LIBRARIES = {
    "deepfit": Library(fit_deepfit, "deepfit", "deepfit", "all"),  # precision "auto"
    "deepfit-fp32": Library(fit_deepfit_fp32, "deepfit", "deepfit", "all"),
    "sklearn": Library(fit_sklearn, "scikit-learn", "sklearn"),
    "skorch": Library(fit_skorch, "skorch", "skorch"),
    "pytorch-tabular": Library(fit_pytorch_tabular, "pytorch_tabular", "pytorch_tabular"),
    "keras": Library(fit_keras, "keras", "keras"),
    "tabm": Library(fit_tabm, "tabm", "tabm", "tabm"),
}


def runs(library: str, network: str) -> bool:
    """Whether ``library`` has ``network`` (the TabM network: deepfit and the tabm package)."""
    kind = LIBRARIES[library].networks
    return kind == "all" or (kind == "tabm") == NETWORKS[network].tabm


def step_flops(step: Step) -> int:
    """FLOPs of one training step's forward and backward pass (FlopCounterMode counts matrix
    products, not element-wise work or the optimiser's update)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        out = step()
        out.float().pow(2).mean().backward()
    return int(counter.get_total_flops())


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work (nothing on the CPU)."""
    if device != "cpu":
        torch.cuda.synchronize(device)


def version(package: str) -> str:
    if package == "deepfit":  # the editable install's metadata keeps the version it had then
        from deepfit.version import __version__

        return __version__
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def epoch_job(job: dict[str, Any]) -> dict[str, Any]:
    """One library on one network: a 1-epoch warm-up fit on two batches, then a ``short``
    and a ``long`` fit on all rows, in this process."""
    library, net = LIBRARIES[job["library"]], NETWORKS[job["network"]]
    try:
        importlib.import_module(library.module)
    except ImportError as error:
        return {"error": f"not installed ({error})"}
    data = prepare(*training_rows(job["rows"]), device=job.get("device", "cpu"))
    library.fit(data.head(min(len(data.y), 2 * net.batch)), net, 1)  # imports, first calls
    seconds: dict[int, float] = {}
    fitted: Any = None
    for epochs in (job["short"], job["long"]):
        synchronize(data.device)
        start = time.perf_counter()
        step, fitted = library.fit(data, net, epochs)
        synchronize(data.device)
        seconds[epochs] = time.perf_counter() - start
    result = {
        "rows": len(data.y),
        "version": version(library.package),
        "seconds": seconds,
        "difference": (seconds[job["long"]] - seconds[job["short"]]) / (job["long"] - job["short"]),
        "step_flops": step_flops(step),
        "d_in": int(data.X.shape[1]),
    }
    if job["library"].startswith("deepfit"):
        history = [record["seconds"] for record in fitted.history_[1:]]
        result["history"] = statistics.median(history) if history else None
        result["precision"] = fitted.training_summary_["precision"]
    return result


# ---------------------------------------------------------------------- time to accuracy
def tta_split(job: dict[str, Any]) -> Any:
    """benchmarks/accuracy.py's split (seed 0) of the dataset, on its first ``rows`` rows of
    a seeded shuffle when ``rows`` is set (--quick)."""
    from accuracy_data import DATASETS, split_rows

    dataset = DATASETS[job["dataset"]]
    frame = dataset.load()
    if job["rows"] is not None and job["rows"] < len(frame):
        keep = np.sort(np.random.default_rng(0).permutation(len(frame))[: job["rows"]])
        frame = frame.iloc[keep].reset_index(drop=True)
    return split_rows(frame, dataset.target, 0)


def rmse(truth: pd.Series, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted) - truth.to_numpy(np.float64)) ** 2)))


def tta_lightgbm(job: dict[str, Any]) -> dict[str, Any]:
    from accuracy_peers import Run, fit_lightgbm

    split = tta_split(job)
    start = time.perf_counter()
    fitted = fit_lightgbm(split, Run(seed=0, time_limit=None, threads=job["threads"]))
    seconds = time.perf_counter() - start
    return {
        "rmse": rmse(split.y_test, fitted.predict(split.X_test)),
        "seconds": seconds,
        "best_iteration": fitted.details["best_iteration"],
        "rows": [len(split.y_train), len(split.y_val), len(split.y_test)],
        "version": version("lightgbm"),
    }


def tta_deepfit(job: dict[str, Any]) -> dict[str, Any]:
    """``Regressor(time_limit=limit)`` (model auto) with the validation split; the weights at
    every epoch's end are kept and scored on the test rows after training.

    Regressor.fit takes ``callbacks`` (deepfit.training.callbacks.Callback), so no patching is
    needed. Copying the weights takes milliseconds and is subtracted from the clock; scoring
    them afterwards, rather than at the epoch's end, keeps the scoring out of deepfit's own
    clock too (its time limit and the anneal schedule count seconds since training began).
    """
    from deepfit import Regressor
    from deepfit.training.callbacks import Callback

    class Snapshots(Callback):
        def __init__(self) -> None:
            self.start, self.excluded = 0.0, 0.0
            self.points: list[tuple[float, int, dict[str, torch.Tensor]]] = []

        def on_epoch_end(self, state: Any, network: nn.Module) -> None:
            now = time.perf_counter()
            weights = {key: value.detach().clone() for key, value in network.state_dict().items()}
            self.points.append((now - self.start - self.excluded, state.epoch, weights))
            self.excluded += time.perf_counter() - now

    split = tta_split(job)
    model = Regressor(time_limit=job["limit"], random_state=0, device=job.get("device", "cpu"))
    snapshots = Snapshots()
    snapshots.start = time.perf_counter()
    model.fit(
        split.X_train, split.y_train, X_val=split.X_val, y_val=split.y_val, callbacks=[snapshots]
    )
    seconds = time.perf_counter() - snapshots.start - snapshots.excluded
    features = model.prepare(split.X_test)
    final = rmse(split.y_test, model.predict_features(features))
    kept = {key: value.clone() for key, value in model.network_.state_dict().items()}
    curve = []
    for elapsed, epoch, weights in snapshots.points:
        model.network_.load_state_dict(weights)
        curve.append([elapsed, epoch, rmse(split.y_test, model.predict_features(features))])
    model.network_.load_state_dict(kept)
    summary, settings = model.training_summary_, model.settings_
    options = ", ".join(
        f"{key}={value}" for key, value in (settings["model_options"] or {}).items()
    )
    network = "-".join(str(width) for width in settings["hidden_layers"])
    return {
        "curve": curve,
        "final_rmse": final,
        "seconds": seconds,
        "best_epoch": summary["best_epoch"],
        "stop_reason": summary["stop_reason"],
        "network": (
            f"{settings['model']} {network}, {settings['numeric_embedding']}, {options}, "
            f"{summary['precision']} on {job.get('device', 'cpu')}"
        ),
        "version": version("deepfit"),
    }


def main() -> None:
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job["threads"])
    from threadpoolctl import threadpool_limits

    kinds = {"epoch": epoch_job, "tta-lightgbm": tta_lightgbm, "tta-deepfit": tta_deepfit}
    try:
        with threadpool_limits(limits=job["threads"]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = kinds[job["kind"]](job)
    except Exception as error:
        traceback.print_exc()
        lines = str(error).strip().splitlines() or [""]
        result = {"error": f"{type(error).__name__}: {lines[0][:200]}"}
    print("RESULT " + json.dumps(result, default=float), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip slow interpreter teardown (lightning, keras)


if __name__ == "__main__":
    main()
