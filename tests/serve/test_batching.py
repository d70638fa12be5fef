"""Concurrent requests share one network call and each gets its own rows back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from deepfit import Regressor
from deepfit.serve.batching import MicroBatcher
from deepfit.serve.engine import InferenceEngine
from tests.support.tables import make_table


class CountingEngine:
    """An engine that records how many rows each call received."""

    def __init__(self, engine: InferenceEngine) -> None:
        self.engine = engine
        self.calls: list[int] = []

    def predict(self, numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
        self.calls.append(len(numeric))
        return self.engine.predict(numeric, codes)


def test_concurrent_requests_are_joined_and_split_back(fitted: Regressor) -> None:
    engine = CountingEngine(InferenceEngine(fitted.network_, backend="torch"))
    batcher = MicroBatcher(engine)  # type: ignore[arg-type]
    requests = [
        fitted.preprocessor_.transform(make_table(n, seed=n).drop(columns="y"))
        for n in (1, 3, 7, 2)
    ]

    async def run_all() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.predict(r.numeric, r.categorical) for r in requests))

    answers = asyncio.run(run_all())
    assert engine.calls == [13]  # one call for all four requests
    for request, answer in zip(requests, answers, strict=True):
        np.testing.assert_allclose(
            answer, engine.engine.predict(request.numeric, request.categorical), rtol=1e-6
        )


def test_a_lone_request_is_not_delayed_or_joined(fitted: Regressor) -> None:
    engine = CountingEngine(InferenceEngine(fitted.network_, backend="torch"))
    batcher = MicroBatcher(engine)  # type: ignore[arg-type]
    rows = fitted.preprocessor_.transform(make_table(5, seed=1).drop(columns="y"))

    async def one_after_another() -> None:
        for _ in range(3):
            await batcher.predict(rows.numeric, rows.categorical)

    asyncio.run(one_after_another())
    assert engine.calls == [5, 5, 5]


def test_a_failing_call_fails_every_waiting_request(fitted: Regressor) -> None:
    class Broken:
        def predict(self, numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
            raise RuntimeError("engine down")

    batcher = MicroBatcher(Broken())  # type: ignore[arg-type]
    rows = fitted.preprocessor_.transform(make_table(2, seed=1).drop(columns="y"))

    async def two() -> list[object]:
        return await asyncio.gather(
            batcher.predict(rows.numeric, rows.categorical),
            batcher.predict(rows.numeric, rows.categorical),
            return_exceptions=True,
        )

    results = asyncio.run(two())
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError, match="engine down"):
        asyncio.run(batcher.predict(rows.numeric, rows.categorical))
