"""What values a parameter allows: each rule checks a Python value and parses a shell word.

A rule is data, so the same object checks ``Regressor(learning_rate=...)`` at the start of
``fit``, parses ``--learning-rate 0.01`` on the command line, and writes the "allowed" part
of both the error message and ``--help``.

Example:
    >>> Integer(1).allows(3), Integer(1).allows(0), Integer(1).text
    (True, False, 'a positive integer')
    >>> Choice(("relu", "gelu")).parse("gelu")
    'gelu'
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from deepfit.data.schema import ROLES


class Rule:
    """A set of allowed values; subclasses say which (``text``; ``shell_text`` for the shell)."""

    text = "a value"

    @property
    def shell_text(self) -> str:
        return self.text

    def allows(self, value: Any) -> bool:
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        """The value a shell word stands for; ValueError when it stands for none."""
        return text


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    return (_is_integer(value) or isinstance(value, float | np.floating)) and math.isfinite(
        float(value)
    )


class Choice(Rule):
    """One of a few names."""

    def __init__(self, values: Sequence[str]) -> None:
        self.values = tuple(values)
        self.text = "one of " + ", ".join(self.values)

    def allows(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def parse(self, text: str) -> Any:
        if text not in self.values:
            raise ValueError(f"expected {self.text}")
        return text


class Integer(Rule):
    """A whole number of at least ``low``."""

    def __init__(self, low: int) -> None:
        self.low = low
        self.text = {0: "a non-negative integer", 1: "a positive integer"}.get(
            low, f"an integer of at least {low}"
        )

    def allows(self, value: Any) -> bool:
        return _is_integer(value) and value >= self.low

    def parse(self, text: str) -> Any:
        value = int(text)
        if value < self.low:
            raise ValueError(f"expected {self.text}")
        return value


class Number(Rule):
    """A finite number in a range: ``low <= x`` (``low < x`` when ``open_low``), ``x < high``."""

    def __init__(self, low: float, high: float | None = None, *, open_low: bool = False) -> None:
        self.low, self.high, self.open_low = low, high, open_low
        if high is not None:
            self.text = f"a number in {'(' if open_low else '['}{low:g}, {high:g})"
        else:
            self.text = "a positive number" if open_low and low == 0 else f"a number >= {low:g}"

    def allows(self, value: Any) -> bool:
        if not _is_number(value):
            return False
        number = float(value)
        above = number > self.low if self.open_low else number >= self.low
        return above and (self.high is None or number < self.high)

    def parse(self, text: str) -> Any:
        value = float(text)
        if not self.allows(value):
            raise ValueError(f"expected {self.text}")
        return value


class Boolean(Rule):
    text = "True or False"

    def allows(self, value: Any) -> bool:
        return isinstance(value, bool | np.bool_)

    def parse(self, text: str) -> Any:
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError("expected true or false")
        return lowered in ("true", "1", "yes")


class Widths(Rule):
    """Hidden-layer widths: positive integers, e.g. ``(256, 256)`` or ``256,256``."""

    text = "positive widths, e.g. (256, 256)"
    shell_text = "positive widths separated by commas, e.g. 256,256"

    def allows(self, value: Any) -> bool:
        return (
            isinstance(value, list | tuple)
            and len(value) > 0
            and all(_is_integer(width) and width >= 1 for width in value)
        )

    def parse(self, text: str) -> Any:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
        if not self.allows(widths):
            raise ValueError("expected positive widths separated by commas, e.g. 256,256")
        return widths


class Names(Rule):
    """Any number of names from a fixed set, e.g. ``("flip", "shift")`` or ``flip,shift``."""

    def __init__(self, values: Sequence[str]) -> None:
        self.values = tuple(values)
        self.text = "a list of names from " + ", ".join(self.values) + " (may be empty)"

    @property
    def shell_text(self) -> str:
        return "names separated by commas from " + ", ".join(self.values)

    def allows(self, value: Any) -> bool:
        return isinstance(value, list | tuple) and all(name in self.values for name in value)

    def parse(self, text: str) -> Any:
        names = tuple(part.strip() for part in text.split(",") if part.strip())
        if not self.allows(names):
            raise ValueError(f"expected {self.shell_text}")
        return names


class Options(Rule):
    """Architecture settings by name: a dict, or ``KEY=VALUE`` words on the command line."""

    text = "a dict of settings, e.g. {'k': 16}"

    def allows(self, value: Any) -> bool:
        return isinstance(value, dict) and all(isinstance(key, str) for key in value)

    def parse(self, text: str) -> Any:
        key, sign, word = text.partition("=")
        if not sign or not key.strip():
            raise ValueError(f"expected KEY=VALUE, e.g. k=16; got {text!r}")
        try:
            value: Any = json.loads(word)
        except ValueError:
            value = word
        return {key.strip(): value}


class Roles(Rule):
    """Column roles by column name."""

    text = "a dict of column name to role (" + ", ".join(ROLES) + ")"

    def allows(self, value: Any) -> bool:
        return isinstance(value, dict) and all(
            isinstance(key, str) and role in ROLES for key, role in value.items()
        )


class PathRule(Rule):
    text = "a path"

    def allows(self, value: Any) -> bool:
        return isinstance(value, str | os.PathLike) and str(value) != ""


class Frequency(Rule):
    """A pandas frequency alias, e.g. 30min, h, D, W, MS, YS."""

    text = "a pandas frequency such as 30min, h, D, W, MS or YS"

    def allows(self, value: Any) -> bool:
        from pandas.tseries.frequencies import to_offset

        if not isinstance(value, str):
            return False
        try:
            to_offset(value)
        except ValueError:
            return False
        return True

    def parse(self, text: str) -> Any:
        if not self.allows(text):
            raise ValueError(f"expected {self.text}")
        return text


class Device(Rule):
    text = "'auto', 'cpu', 'cuda' or 'cuda:N'"

    def allows(self, value: Any) -> bool:
        return isinstance(value, str) and (
            value in ("auto", "cpu", "cuda", "mps") or value.startswith("cuda:")
        )


class Weights(Rule):
    """Class weights: ``"balanced"`` or a dict of label to a positive weight."""

    text = "'balanced' or a dict of label to weight"
    shell_text = "balanced"

    def allows(self, value: Any) -> bool:
        if value == "balanced":
            return True
        return isinstance(value, dict) and all(
            _is_number(weight) and float(weight) >= 0 for weight in value.values()
        )

    def parse(self, text: str) -> Any:
        if text != "balanced":
            raise ValueError("expected balanced (or pass a dict in Python)")
        return text


class Seed(Rule):
    text = "an integer seed"

    def allows(self, value: Any) -> bool:
        return _is_integer(value) and 0 <= value < 2**32

    def parse(self, text: str) -> Any:
        return int(text)
