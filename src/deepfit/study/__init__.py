"""One-factor-at-a-time studies: vary one setting over values and seeds, hold the rest.

Example:
    >>> from deepfit.study import run_study
    >>> result = run_study("data.csv", target="y", vary={"learning_rate": [0.01, 0.1, 1]},
    ...     settings={"max_epochs": 30}, out="study")  # doctest: +SKIP
    >>> print(result.factors["learning_rate"].markdown)  # doctest: +SKIP
"""

from deepfit.study.factors import FACTORS, REGULARIZATION, Level, known_factors, parse_levels
from deepfit.study.result import FactorResult, StudyResult
from deepfit.study.runner import run_study

__all__ = [
    "FACTORS",
    "REGULARIZATION",
    "FactorResult",
    "Level",
    "StudyResult",
    "known_factors",
    "parse_levels",
    "run_study",
]
