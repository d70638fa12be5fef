"""How good a fitted model is: metrics, baselines on the same split, cross-validation, intervals.

Each module does one job; import from the module (``deepfit.evaluation.metrics``), not from here.
"""
