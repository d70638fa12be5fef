"""One pass over a streamed table: every statistic training needs, in bounded memory.

What the pass keeps:

* a seeded sample of the training rows, up to :data:`SAMPLE_ROWS`: the rows whose hashed row
  number is smallest (bottom-k sampling, so the sample is uniform, the same in whatever order
  the pieces come, and mergeable across processes). The preprocessor's medians and scales, the
  piecewise-linear embedding's bins and the target's scale are fitted on it. With ``n`` sample
  rows every quantile's rank is off by at most ``sqrt(ln(2 / 0.01) / (2 n))`` with 99%
  confidence (the Dvoretzky-Kiefer-Wolfowitz inequality): 0.33% of the rows at 250,000;
* exact counts: the rows, and the missing values of each column among the training rows;
* each categorical column's values with their counts, exact up to :data:`VOCABULARY_CAP`
  distinct values; past it the rarest are pruned, and counts found later are lower bounds;
* the held-out rows themselves (validation and test): few by construction (see
  :func:`held_out_fractions`);
* for a classification target, every label that appears.

Example:
    >>> frame = pd.DataFrame({"x": [1.0, None, 3.0, 4.0], "y": [1.0, 2.0, 3.0, 4.0]})
    >>> stats = StreamStatistics(HashSplitter(0.0, 0.0), seed=0, target="y", categorical=[])
    >>> stats.add(frame, frame["y"].to_numpy())
    >>> stats.missing["x"], len(stats.sample())
    (1, 4)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from deepfit.data.preprocess import category_positions
from deepfit.data.split import TEST, TRAIN, VALIDATION, HashSplitter, row_uniforms

SAMPLE_ROWS = 250_000
HELD_OUT_ROWS = 100_000  # validation and test each hold about this many rows at most
VOCABULARY_CAP = 100_000
SAMPLE_STREAM = 0x5A4D  # keeps the sample's hash apart from the split's


def held_out_fractions(
    rows: int, validation_fraction: float, test_fraction: float
) -> tuple[float, float]:
    """The validation and test shares of a streamed table of about ``rows`` rows: as asked,
    but at most :data:`HELD_OUT_ROWS` rows each, so they fit in memory.

    Example:
        >>> held_out_fractions(20_000_000, 0.15, 0.15)
        (0.005, 0.005)
    """
    cap = HELD_OUT_ROWS / max(1, rows)
    return min(validation_fraction, cap), min(test_fraction, cap)


def rank_error(sample_rows: int, confidence: float = 0.99) -> float:
    """The most a quantile's rank may be off in a uniform sample of ``sample_rows`` rows.

    Example:
        >>> round(rank_error(250_000), 4)
        0.0033
    """
    return float(np.sqrt(np.log(2.0 / (1.0 - confidence)) / (2.0 * max(1, sample_rows))))


@dataclass
class StreamStatistics:
    """Statistics of the pieces :meth:`add` is given; :meth:`sample` and :meth:`held_out`
    after the last."""

    splitter: HashSplitter
    seed: int
    target: str
    categorical: list[str]
    count_labels: bool = False
    sample_rows: int = SAMPLE_ROWS
    rows: int = 0
    train_rows: int = 0
    missing: Counter[str] = field(default_factory=Counter)
    categories: dict[str, Counter[str]] = field(default_factory=dict)
    pruned: set[str] = field(default_factory=set)
    labels: Counter[object] = field(default_factory=Counter)
    _held: dict[int, list[pd.DataFrame]] = field(default_factory=dict)
    _pool: list[tuple[np.ndarray, pd.DataFrame]] = field(default_factory=list)
    _pool_rows: int = 0
    _threshold: float = 1.0

    def add(self, frame: pd.DataFrame, target: np.ndarray) -> None:
        """Count the rows of ``frame`` (indexed by row number; ``target`` checked by the
        task)."""
        rows = frame.index.to_numpy()
        parts = self.splitter.parts(rows, seed=self.seed)
        self.rows += len(frame)
        if self.count_labels:
            self.labels.update(pd.Series(target).value_counts().to_dict())
        for part in (VALIDATION, TEST):
            chosen = parts == part
            if chosen.any():
                self._held.setdefault(part, []).append(frame[chosen])
        training = parts == TRAIN
        train = frame[training]
        self.train_rows += len(train)
        self.missing.update({str(k): int(v) for k, v in train.isna().sum().items() if v})
        for name in self.categorical:
            self._count(name, train[name])
        self._keep(train, row_uniforms(rows[training], self.seed ^ SAMPLE_STREAM))

    def _count(self, name: str, values: pd.Series) -> None:
        positions, texts = category_positions(values)
        counts = np.bincount(positions, minlength=len(texts))
        counter = self.categories.setdefault(name, Counter())
        for text, count in zip(texts, counts.tolist(), strict=True):
            if count:
                counter[text] += count
        if len(counter) > VOCABULARY_CAP:
            self.categories[name] = Counter(dict(counter.most_common(VOCABULARY_CAP // 2)))
            self.pruned.add(name)

    def _keep(self, train: pd.DataFrame, keys: np.ndarray) -> None:
        """Bottom-k sampling: keep the rows with the smallest keys seen so far."""
        below = keys < self._threshold
        if not below.any():
            return
        self._pool.append((keys[below], train[below]))
        self._pool_rows += int(below.sum())
        if self._pool_rows > 2 * self.sample_rows:
            self._cut()

    def _cut(self) -> None:
        keys = np.concatenate([keys for keys, _ in self._pool])
        frame = pd.concat([part for _, part in self._pool])
        if len(keys) > self.sample_rows:
            kept = np.argpartition(keys, self.sample_rows - 1)[: self.sample_rows]
            keys, frame = keys[kept], frame.iloc[kept]
            self._threshold = float(keys.max())
        self._pool, self._pool_rows = [(keys, frame)], len(keys)

    def sample(self) -> pd.DataFrame:
        """The training rows' sample, in row order."""
        if not self._pool:
            return pd.DataFrame()
        self._cut()
        return self._pool[0][1].sort_index()

    def held_out(self, part: int) -> pd.DataFrame | None:
        """The rows of :data:`VALIDATION` or :data:`TEST`, or None when there are none."""
        frames = self._held.get(part)
        return pd.concat(frames) if frames else None

    def vocabulary(self, name: str, min_count: int) -> list[str]:
        """The categories of column ``name`` seen at least ``min_count`` times, sorted."""
        counts = self.categories.get(name, Counter())
        return sorted(text for text, count in counts.items() if count >= min_count)
