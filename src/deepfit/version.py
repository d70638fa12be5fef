"""deepfit's version, in one place that every module can import without a cycle."""

__version__ = "0.2.0"
