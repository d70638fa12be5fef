"""Export a fitted model to ONNX, so predictions need only ``onnxruntime``.

The exported graph takes the RAW feature columns, one graph input per column, each of
shape ``[rows]``, and does inside the graph what :class:`~deepfit.data.preprocess.
TabularPreprocessor` and the network do in Python:

* numeric column: ``float32``, NaN for missing;
* boolean column: ``float32`` 0/1, NaN for missing;
* categorical column: ``string``, mapped to the model's codes by an ``ai.onnx.ml``
  ``LabelEncoder`` (anything not in the vocabulary is "unknown"). A missing value is the text
  ``"<missing>"`` and numbers are passed as their text without a trailing ``.0`` (``"3"``,
  not ``"3.0"``), as the preprocessor writes them;
* date/time column: ``float64`` days since 1970-01-01 00:00 UTC, fractional for times of day
  (NaN for missing); the date parts the model uses (year, month, day, day of week with
  Monday = 0, day of year, hour) are computed in the graph with exact calendar arithmetic
  (Howard Hinnant's ``civil_from_days``). Float64 days resolve time to about a microsecond:
  a time less than 36 microseconds before a full hour counts as that hour.

The graph's one output, ``prediction`` (``float64 [rows]``), is in the target's units.
:func:`onnx_feed` turns a DataFrame into the inputs with deepfit's own parsing rules, and
the model file's ``metadata_props`` describe every input (``deepfit_inputs``, JSON).

Example:
    >>> import onnxruntime as ort  # doctest: +SKIP
    >>> from deepfit import load
    >>> from deepfit.export import export_onnx, onnx_feed
    >>> model = load("price.deepfit")  # doctest: +SKIP
    >>> export_onnx(model, "price.onnx")  # doctest: +SKIP
    >>> session = ort.InferenceSession("price.onnx")  # doctest: +SKIP
    >>> feed = onnx_feed(session, new_rows)  # doctest: +SKIP
    >>> session.run(None, feed)[0]  # predictions, as model.predict(new_rows)  # doctest: +SKIP
"""

from deepfit.export.check import (
    Difference,
    ExportReport,
    QuantizedReport,
    difference,
    export_checked,
    onnx_predict,
    onnx_session,
    rows_per_second,
    synthetic_rows,
)
from deepfit.export.dates import date_parts_graph
from deepfit.export.feed import onnx_feed
from deepfit.export.graph import export_onnx, input_specs, network_graph
from deepfit.export.quantize import quantize_onnx

__all__ = [
    "Difference",
    "ExportReport",
    "QuantizedReport",
    "date_parts_graph",
    "difference",
    "export_checked",
    "export_onnx",
    "input_specs",
    "network_graph",
    "onnx_feed",
    "onnx_predict",
    "onnx_session",
    "quantize_onnx",
    "rows_per_second",
    "synthetic_rows",
]
