"""The statistics pass: hash split, bottom-k sample, exact counts, capped vocabularies."""

import numpy as np
import pandas as pd

from deepfit.data.split import TEST, TRAIN, VALIDATION, HashSplitter, row_uniforms
from deepfit.data.stream_stats import StreamStatistics, held_out_fractions, rank_error


def frame_of(rows: np.ndarray) -> pd.DataFrame:
    rng = np.random.default_rng(int(rows[0]))
    x = rng.normal(size=len(rows))
    x[rng.random(len(rows)) < 0.05] = np.nan
    colour = rng.choice(["red", "green", "blue"], size=len(rows))
    return pd.DataFrame({"x": x, "colour": colour, "y": rows * 1.0}, index=rows)


def passed(pieces: list[np.ndarray], **kwargs) -> StreamStatistics:
    stats = StreamStatistics(
        HashSplitter(0.1, 0.1), seed=7, target="y", categorical=["colour"], **kwargs
    )
    for rows in pieces:
        frame = frame_of(rows)
        stats.add(frame, frame["y"].to_numpy())
    return stats


def test_the_hash_split_depends_on_row_numbers_and_seed_only():
    splitter = HashSplitter(0.2, 0.1)
    rows = np.arange(10_000, 20_000)
    parts = splitter.parts(rows, seed=3)
    assert np.array_equal(parts[500:600], splitter.parts(rows[500:600], seed=3))
    assert not np.array_equal(parts, splitter.parts(rows, seed=4))
    shares = [np.mean(parts == part) for part in (TRAIN, VALIDATION, TEST)]
    assert np.allclose(shares, [0.7, 0.2, 0.1], atol=0.02)


def test_row_uniforms_are_uniform():
    draws = row_uniforms(np.arange(200_000), seed=1)
    counts = np.histogram(draws, bins=10, range=(0, 1))[0]
    assert counts.min() > 19_000
    assert counts.max() < 21_000


def test_held_out_shares_shrink_to_a_fixed_number_of_rows():
    assert held_out_fractions(1000, 0.15, 0.1) == (0.15, 0.1)
    validation, test = held_out_fractions(50_000_000, 0.15, 0.15)
    assert validation * 50_000_000 == 100_000 == test * 50_000_000


def test_the_sample_is_the_same_whatever_the_order_of_the_pieces():
    pieces = [np.arange(start, start + 5000) for start in range(0, 40_000, 5000)]
    forward = passed(pieces, sample_rows=3000)
    backward = passed(pieces[::-1], sample_rows=3000)
    assert len(forward.sample()) == 3000
    assert forward.sample().index.tolist() == backward.sample().index.tolist()
    sample = forward.sample()
    parts = HashSplitter(0.1, 0.1).parts(sample.index.to_numpy(), seed=7)
    assert (parts == TRAIN).all()
    assert 15_000 < sample["y"].median() < 25_000  # spread over the whole file, not its start


def test_counts_are_exact_over_the_training_rows():
    pieces = [np.arange(start, start + 5000) for start in range(0, 20_000, 5000)]
    stats = passed(pieces, sample_rows=100)
    frames = pd.concat(frame_of(rows) for rows in pieces)
    train = frames[HashSplitter(0.1, 0.1).parts(frames.index.to_numpy(), seed=7) == TRAIN]
    assert stats.rows == 20_000
    assert stats.train_rows == len(train)
    assert stats.missing["x"] == int(train["x"].isna().sum())
    assert dict(stats.categories["colour"]) == train["colour"].value_counts().to_dict()
    assert stats.vocabulary("colour", 1) == ["blue", "green", "red"]
    validation = stats.held_out(VALIDATION)
    assert validation is not None
    assert len(validation) + len(stats.held_out(TEST)) + len(train) == 20_000


def test_labels_are_counted_for_classification():
    stats = StreamStatistics(
        HashSplitter(0.0, 0.0), seed=0, target="y", categorical=[], count_labels=True
    )
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "a"]})
    stats.add(frame, frame["y"].to_numpy())
    assert dict(stats.labels) == {"a": 2, "b": 1}


def test_the_rank_error_falls_with_the_square_root_of_the_sample():
    assert rank_error(250_000) < 0.004
    assert abs(rank_error(40_000) / rank_error(160_000) - 2.0) < 1e-9
