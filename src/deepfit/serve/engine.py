"""Runs the network for the server: ONNX Runtime when the network exports, else torch.

For one row, torch's per-module overhead is most of the cost (about 350 microseconds for the
default MLP on one core, against 80 for ONNX Runtime), so the server exports the network once
at start-up, checks that the graph agrees with torch, and runs the graph.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from deepfit.models.members import find_tabm, keep_members, recorded_members
from deepfit.models.network import TabularNetwork

Backend = Literal["onnx", "torch"]
AGREEMENT = 1e-4  # relative; the graph is used only if it agrees with torch this well
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedMembers:
    """Which of a TabM's ``of`` members the server runs: ``count`` of them (every one when
    equal; both None for a network without a TabM). ``str`` gives /metadata's words.

    Example:
        >>> str(ServedMembers(3, 16, taught=True)), ServedMembers(16, 16).every
        ('3 of 16, chosen on the validation rows and taught all members\' answers', True)
    """

    count: int | None = None
    of: int | None = None
    taught: bool = False

    @property
    def every(self) -> bool:
        return self.count == self.of

    def __str__(self) -> str:
        if self.of is None:
            return "all"
        if self.every:
            return f"all {self.of}"
        chosen = f"{self.count} of {self.of}, chosen on the validation rows"
        return f"{chosen} and taught all members' answers" if self.taught else chosen


def served_network(
    network: TabularNetwork,
    training: dict[str, Any],
    *,
    all_members: bool = False,
    served: TabularNetwork | None = None,
) -> tuple[TabularNetwork, ServedMembers]:
    """The network to serve, and which members it runs (say so in /metadata).

    A TabM whose training record names the members chosen on the validation rows
    (``served_members``, :mod:`deepfit.estimator.served`) is served with those members only,
    unless ``all_members``: ``served``, the members taught all members' answers that the
    model file keeps, or else (a file from before they were taught) the members sliced out of
    ``network``. A record that does not fit the network is ignored with a warning: the file
    may come from anywhere, and all members still answer correctly.
    """
    tabm = find_tabm(network)
    if tabm is None or tabm.k < 2:
        return network, ServedMembers()
    every = ServedMembers(tabm.k, tabm.k)
    record = training.get("served_members") if isinstance(training, dict) else None
    if all_members or record is None:
        return network, every
    members = recorded_members(record)
    if members is None:
        log.warning("serving all members: the model's served_members record is malformed")
        return network, every
    if served is not None and getattr(find_tabm(served), "k", None) == len(members):
        return served, ServedMembers(len(members), tabm.k, taught=bool(record.get("distilled")))
    try:
        lean = keep_members(network, members)
    except ValueError as error:
        log.warning("serving all members: %s", error)
        return network, every
    assert isinstance(lean, TabularNetwork)
    return lean, ServedMembers(len(members), tabm.k)


class InferenceEngine:
    """Predictions in the target's units from prepared inputs.

    Example:
        >>> engine = InferenceEngine(model.network_, backend="torch")  # doctest: +SKIP
        >>> engine.predict(features.numeric, features.categorical)  # doctest: +SKIP
    """

    def __init__(
        self, network: TabularNetwork, *, backend: Backend = "onnx", threads: int = 1
    ) -> None:
        self.network = network.eval()
        self.n_numeric = int(network.numeric_input.medians.numel())
        self.n_categorical = len(network.embeddings.tables)
        self.backend: Backend = "torch"
        self.session = None
        if backend == "onnx":
            self._try_onnx(threads)

    def predict(self, numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """float64 predictions for float32 ``numeric`` and int64 ``codes`` (one row each)."""
        if numeric.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        if self.session is not None:
            feed = {}
            if self.n_numeric:
                feed["numeric"] = numeric
            if self.n_categorical:
                feed["codes"] = codes
            return np.asarray(self.session.run(None, feed)[0], dtype=np.float64)
        with torch.inference_mode():
            output = self.network(torch.tensor(numeric), torch.tensor(codes))
            return self.network.head(output).numpy()

    def _try_onnx(self, threads: int) -> None:
        import onnxruntime

        from deepfit.export import network_graph

        try:
            graph = network_graph(self.network, self.n_numeric, self.n_categorical, 17)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self.session = onnxruntime.InferenceSession(
                graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # any exporter failure: torch still serves correctly
            log.warning("serving with torch: the network did not export to ONNX (%s)", error)
            self.session = None
            return
        if not self._agrees():
            log.warning("serving with torch: the ONNX graph disagreed with torch")
            self.session = None
            return
        self.backend = "onnx"

    def _agrees(self) -> bool:
        generator = np.random.default_rng(0)
        numeric = generator.normal(size=(64, self.n_numeric)).astype(np.float32)
        numeric = numeric * self.network.numeric_input.scales.numpy() + (
            self.network.numeric_input.medians.numpy()
        )
        numeric[generator.random(numeric.shape) < 0.1] = np.nan
        sizes = [table.num_embeddings for table in self.network.embeddings._embeddings()]
        codes = np.zeros((64, len(sizes)), dtype=np.int64)
        for j, size in enumerate(sizes):
            codes[:, j] = generator.integers(0, size, 64)
        from_graph = self.predict(numeric, codes)
        session, self.session = self.session, None
        from_torch = self.predict(numeric, codes)
        self.session = session
        scale = max(float(np.abs(from_torch).max()), 1e-12)
        return bool(np.abs(from_graph - from_torch).max() <= AGREEMENT * scale)
