"""Numbers written as text, as spreadsheets and web pages write them: ``"$1,234.50"``.

A CSV saved from a spreadsheet often writes large numbers with commas between groups of three
digits, and quotes them; scraped listings write prices with a currency symbol. pandas reads
such a column as text, so a price would become a label (a classification target, or a
categorical feature with a category per value). Every place that reads numbers from text uses
:func:`parse_numbers`, so training, prediction and the task's inference read ``"$1,234.5"``,
``"1,234.5"`` and ``"1234.5"`` alike. The symbols read are ``$ € £ ¥``, before the digits.

The grouped form is read only as written in English: one to three digits that do not start
with 0, then groups of exactly three after each comma, then an optional decimal point.
``"1,5"``, ``"0,125"`` and ``"12,34"`` stay text, so a column written with decimal commas is
named in an error (:func:`decimal_comma`) rather than read as text or guessed at. A column
whose every value is like ``"1,250"`` cannot tell the two apart; it is read as thousands, as
spreadsheets in English write them (and as pandas' ``thousands=","`` would). A percentage
is the number written: ``"10.65%"`` is 10.65, so a predicted rate reads as the data wrote it
(for a feature the scale does not matter: features are scaled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A sign, a currency symbol, then digits grouped by commas or not, or a percentage:
# "$1,234.50", "-€12", "1,000", "10.65%".
WRITTEN = (
    r"(?P<sign>[+-]?)[$€£¥]?\s?(?P<sign2>[+-]?)"
    r"(?P<digits>[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:\s?%)?"
)
DECIMAL_COMMA = r"[+-]?\d+,\d+"
NUMBER_STARTS = list("+-$€£¥.0123456789")
DECIMAL_COMMA_FIX = "save the file with decimal points (pandas: read_csv(..., decimal=','))"
# What files write for "no value" in a numeric column beyond pandas' own list (NA, N/A, null,
# NaN, ...): UCI's "?", a dash, a dot (SAS). Read as missing in a column of numbers.
MISSING_MARKERS = frozenset({"?", "-", "--", "---", ".", "n.a.", "missing"})


def parse_numbers(values: pd.Series) -> pd.Series:
    """``values`` as float64, with NaN where a value is missing or not a number. Each distinct
    value is read once, so a long column of a few categories costs one pass to count them.

    Example:
        >>> parse_numbers(pd.Series(["1,234.5", " 7 ", "-$1,000", "10.65%", "1,5", None])).tolist()
        [1234.5, 7.0, -1000.0, 10.65, nan, nan]
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    codes, distinct = pd.factorize(values)
    numbers = np.full(len(values), np.nan)
    present = codes >= 0
    numbers[present] = _read(pd.Series(np.asarray(distinct, dtype=object)))[codes[present]]
    return pd.Series(numbers, index=values.index)


def decimal_comma(values: pd.Series, share: float) -> str | None:
    """A value of ``values`` written with a decimal comma (``"2,5"``) that :func:`parse_numbers`
    did not read, if such values and numbers together make up at least ``share`` of the
    present ones: a column of numbers saved with decimal commas. Otherwise None.

    Example:
        >>> decimal_comma(pd.Series(["1,5", "2", "3,25"]), 0.9)
        '1,5'
        >>> decimal_comma(pd.Series(["1,5", "a", "b"]), 0.9) is None
        True
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return None
    codes, distinct = pd.factorize(values)
    counts = np.bincount(codes[codes >= 0], minlength=len(distinct))
    if not counts.sum():
        return None
    text = pd.Series(np.asarray(distinct, dtype=object)).astype("string").str.strip()
    with_comma = text.str.contains(",", regex=False).fillna(False).to_numpy(dtype=bool)
    if not with_comma.any():
        return None
    read = ~np.isnan(_read(text))
    commas = with_comma & ~read
    commas[commas] = text[commas].str.fullmatch(DECIMAL_COMMA).fillna(False).to_numpy(dtype=bool)
    if not commas.any() or counts[commas | read].sum() < share * counts.sum():
        return None
    return str(text[commas].iloc[0])  # the first in the column's order


def _read(distinct: pd.Series) -> np.ndarray:
    """The numbers in ``distinct`` values (none missing), NaN where there is none."""
    text = distinct.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    # only values that can start a written number go through the expression (ids and words
    # are most of a long text column, and the expression costs more than to_numeric)
    unread = np.isnan(numbers) & text.str.slice(0, 1).isin(NUMBER_STARTS).to_numpy(dtype=bool)
    if unread.any():
        parts = text[unread].str.extract(f"^{WRITTEN}$").dropna(subset=["digits"])
        parts = parts[(parts["sign"] == "") | (parts["sign2"] == "")]  # one sign at most
        if len(parts):
            plain = parts["sign"] + parts["sign2"] + parts["digits"].str.replace(",", "")
            numbers[parts.index.to_numpy()] = pd.to_numeric(plain).to_numpy(dtype=np.float64)
    return numbers


def missing_markers(values: pd.Series) -> pd.Series:
    """Where ``values`` hold one of :data:`MISSING_MARKERS` (spaces and case aside).

    Example:
        >>> missing_markers(pd.Series(["?", " - ", "3", None])).tolist()
        [True, True, False, False]
    """
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return pd.Series(False, index=values.index)
    text = values.astype("string").str.strip().str.lower()
    return text.isin(MISSING_MARKERS).fillna(False).astype(bool)
