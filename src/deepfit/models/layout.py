"""What a backbone receives: the prepared numeric columns first, then each category's embedding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputLayout:
    """The columns of a backbone's input, in order.

    ``n_numeric`` prepared numeric columns (robust-scaled features, then 0/1 missing
    indicators) come first; after them, one block per categorical column, as wide as that
    column's embedding.

    Example:
        >>> layout = InputLayout(n_numeric=3, categorical_widths=(4, 2))
        >>> layout.d_in
        9
    """

    n_numeric: int
    categorical_widths: tuple[int, ...] = ()

    @property
    def d_categorical(self) -> int:
        return sum(self.categorical_widths)

    @property
    def d_in(self) -> int:
        return self.n_numeric + self.d_categorical
