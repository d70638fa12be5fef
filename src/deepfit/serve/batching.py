"""Dynamic batching: the rows of requests that arrive together go through the network at once.

Under load, many requests are ready in the same turn of the event loop. Each one hands its
encoded rows to the batcher and waits; the batcher runs one engine call for all of them
after the other ready requests have had their turn, then hands each its own slice. There
is no timer, so a lone request waits for nothing; a batch forms only when requests are
already queued. One network call for 20 single-row requests costs about as much as one.
"""

from __future__ import annotations

import asyncio

import numpy as np

from deepfit.serve.engine import InferenceEngine


class MicroBatcher:
    """Joins concurrent prediction calls into one :class:`InferenceEngine` call.

    Example:
        >>> batcher = MicroBatcher(engine)  # doctest: +SKIP
        >>> values = await batcher.predict(numeric, codes)  # doctest: +SKIP
    """

    def __init__(self, engine: InferenceEngine, *, max_rows: int = 16_384) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self._pending: list[tuple[np.ndarray, np.ndarray, asyncio.Future[np.ndarray]]] = []
        self._pending_rows = 0

    async def predict(self, numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Predictions for these rows, computed together with other waiting requests'."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)  # runs after the requests already ready this turn
        self._pending.append((numeric, codes, future))
        self._pending_rows += len(numeric)
        if self._pending_rows >= self.max_rows:
            self._flush()
        return await future

    def _flush(self) -> None:
        pending, self._pending, self._pending_rows = self._pending, [], 0
        if not pending:
            return
        try:
            if len(pending) == 1:
                values = self.engine.predict(pending[0][0], pending[0][1])
            else:
                values = self.engine.predict(
                    np.concatenate([numeric for numeric, _, _ in pending]),
                    np.concatenate([codes for _, codes, _ in pending]),
                )
        except Exception as error:  # every waiting request gets the failure, none hangs
            for _, _, future in pending:
                if not future.done():
                    future.set_exception(error)
            return
        start = 0
        for numeric, _, future in pending:
            end = start + len(numeric)
            if not future.done():  # a client that went away cancelled its future
                future.set_result(values[start:end])
            start = end
