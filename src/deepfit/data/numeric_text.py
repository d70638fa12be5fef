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
spreadsheets in English write them (and as pandas' ``thousands=","`` would). Percentages
(``"12%"``) stay text: 12 or 0.12 would both be a guess.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A sign, a currency symbol, then digits grouped by commas or not: "$1,234.50", "-€12", "1,000".
WRITTEN = (
    r"(?P<sign>[+-]?)[$€£¥]?\s?(?P<sign2>[+-]?)"
    r"(?P<digits>[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
)
DECIMAL_COMMA = r"[+-]?\d+,\d+"


def parse_numbers(values: pd.Series) -> pd.Series:
    """``values`` as float64, with NaN where a value is missing or not a number.

    Example:
        >>> parse_numbers(pd.Series(["1,234.5", " 7 ", "-$1,000", "1,5", None])).tolist()
        [1234.5, 7.0, -1000.0, nan, nan]
    """
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    text = values.astype("string").str.strip()
    numbers = pd.Series(
        pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
        index=values.index,
    )
    unread = numbers.isna() & text.notna()
    if unread.any():
        candidates = text[unread]
        written = candidates[candidates.str.fullmatch(WRITTEN).fillna(False).astype(bool)]
        parts = written.str.extract(WRITTEN)
        parts = parts[(parts["sign"] == "") | (parts["sign2"] == "")]  # one sign at most
        if len(parts):
            plain = parts["sign"] + parts["sign2"] + parts["digits"].str.replace(",", "")
            numbers[parts.index] = pd.to_numeric(plain).astype("float64")
    return numbers


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
    present = values.dropna()
    if present.empty or pd.api.types.is_numeric_dtype(present):
        return None
    text = present.astype("string").str.strip()
    numbers = parse_numbers(text)
    commas = (text.str.fullmatch(DECIMAL_COMMA).fillna(False) & numbers.isna()).astype(bool)
    if not commas.any() or float((commas | numbers.notna()).mean()) < share:
        return None
    return str(text[commas].iloc[0])
