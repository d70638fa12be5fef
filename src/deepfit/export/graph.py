"""The exported graph: raw feature columns in, the task's answer out.

A regression's graph gives ``prediction`` (float64 ``[rows]``, the target's units); a
classifier's gives ``probabilities`` (float64 ``[rows, classes]``, calibrated, in the order
of the ``deepfit_classes`` metadata)."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

from deepfit.data.date_text import ISO
from deepfit.data.preprocess import (
    MISSING_CATEGORY,
)
from deepfit.errors import ConfigError
from deepfit.estimator.base import Estimator
from deepfit.export.builder import INTERNAL_PREFIX, GraphBuilder
from deepfit.export.dates import date_parts
from deepfit.files import atomic_writer, check_writable
from deepfit.models.network import TabularNetwork

ONNX_FORMAT_VERSION = 1


MIN_OPSET = 13  # Unsqueeze and Squeeze take their axes as inputs from opset 13 on


MAX_OPSET = 20  # the newest opset torch's TorchScript-based exporter writes


ML_OPSET = 3


OUTPUT_NAME = "prediction"  # the network's output inside the graph; the graph's is the task's


DAYS_UNIT = "days since 1970-01-01 00:00 UTC (fractional)"


_NETWORK = "deepfit::network/"


_INPUT_DTYPES = {
    "numeric": "float32",
    "boolean": "float32",
    "categorical": "string",
    "datetime": "float64",
}


_ONNX_TYPES = {
    "float32": TensorProto.FLOAT,
    "float64": TensorProto.DOUBLE,
    "string": TensorProto.STRING,
}


def input_specs(model: Estimator) -> list[dict[str, Any]]:
    """How the exported graph expects each feature column: name, role, dtype and details.

    Categorical columns list their known ``categories`` (in code order, code = position + 1)
    and the ``missing`` text; date columns give their ``unit``, the ``parts`` the model uses and
    the ``format`` their text is read in (see :mod:`deepfit.data.date_text`).
    """
    model.check_fitted()
    prep = model.preprocessor_
    specs: list[dict[str, Any]] = []
    for column in prep.schema.columns:
        if column.role == "drop":
            continue
        spec: dict[str, Any] = {
            "name": column.name,
            "role": column.role,
            "dtype": _INPUT_DTYPES[column.role],
        }
        if column.role == "categorical":
            spec["categories"] = list(prep.vocabularies[column.name])
            spec["missing"] = MISSING_CATEGORY
        elif column.role == "datetime":
            spec["unit"] = DAYS_UNIT
            spec["parts"] = list(prep.date_parts.get(column.name, []))
            spec["format"] = prep.date_formats.get(column.name, ISO)
        else:
            spec["missing"] = "NaN"
        specs.append(spec)
    return specs


def export_onnx(
    model: Estimator, path: str | Path, *, overwrite: bool = False, opset: int = 17
) -> Path:
    """Write ``model`` as an ONNX graph from raw feature columns to target-unit predictions.

    The file is written atomically; an existing file is replaced only with ``overwrite``.
    ``metadata_props`` record the deepfit version, the target's name and the inputs.

    Example:
        >>> export_onnx(model, "price.onnx")  # doctest: +SKIP
        PosixPath('price.onnx')
    """

    model.check_fitted()
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(
            f"opset must be between {MIN_OPSET} and {MAX_OPSET}, however: opset={opset}"
        )
    path = Path(path)
    check_writable(path, overwrite=overwrite, flag="--force (overwrite=True)")
    specs = input_specs(model)
    input_names = {spec["name"] for spec in specs}
    task = model.task_
    output_name = task.answer_name
    while output_name in input_names:
        output_name += "_"
    prep = model.preprocessor_
    n_numeric, n_categorical = len(prep.numeric_names), len(prep.categorical_names)
    core = network_graph(model.network_, n_numeric, n_categorical, opset)
    front = _front_model(model, specs, opset, ir_version=core.ir_version)
    io_map = [
        (f"{INTERNAL_PREFIX}{name}", name)
        for name in ("numeric", "codes")
        if any(value.name == name for value in core.graph.input)
    ]
    merged = onnx.compose.merge_models(front, core, io_map=io_map, prefix2=_NETWORK)
    versions = {opset_id.domain or "": opset_id.version for opset_id in merged.opset_import}
    del merged.opset_import[:]  # merge_models may list the default domain twice
    merged.opset_import.extend(helper.make_opsetid(d, v) for d, v in sorted(versions.items()))
    merged.graph.node.append(
        helper.make_node(
            "Identity", [f"{_NETWORK}{OUTPUT_NAME}"], [output_name], name=f"{INTERNAL_PREFIX}output"
        )
    )
    del merged.graph.output[:]
    merged.graph.output.append(
        helper.make_tensor_value_info(output_name, TensorProto.DOUBLE, task.answer_shape())
    )
    _describe(merged, model, specs, output_name)
    onnx.checker.check_model(merged, full_check=True)
    data = merged.SerializeToString()
    with atomic_writer(path, overwrite=overwrite) as handle:
        handle.write(data)
    return path


def _describe(
    merged: onnx.ModelProto, model: Estimator, specs: list[dict[str, Any]], output_name: str
) -> None:
    """Name the graph and record what a consumer needs: the inputs, the task and its target."""
    from deepfit.version import __version__

    task = model.task_
    merged.graph.name = "deepfit"
    merged.graph.doc_string = (
        f"deepfit model predicting {model.target_name_!r} from raw feature columns; "
        "see metadata_props['deepfit_inputs'] for each input"
    )
    merged.producer_name = "deepfit"
    merged.producer_version = __version__
    del merged.metadata_props[:]
    onnx.helper.set_model_props(
        merged,
        {
            "deepfit_version": __version__,
            "deepfit_onnx_format": str(ONNX_FORMAT_VERSION),
            "deepfit_target": model.target_name_,
            "deepfit_task": task.name,
            "deepfit_target_encoding": json.dumps(task.to_dict()),
            "deepfit_output": output_name,
            "deepfit_inputs": json.dumps(specs),
        },
    )


class _TargetUnits(nn.Module):
    """The network from its prepared inputs to the target's units; an absent input is empty."""

    def __init__(self, network: TabularNetwork, *, numeric: bool, categorical: bool) -> None:
        super().__init__()
        self.network = network
        self.has_numeric = numeric
        self.has_categorical = categorical

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        given = iter(inputs)
        numeric = next(given) if self.has_numeric else None
        codes = next(given) if self.has_categorical else None
        rows = inputs[0].shape[0]
        if numeric is None:
            numeric = inputs[0].new_zeros((rows, 0), dtype=torch.float32)
        if codes is None:
            codes = inputs[0].new_zeros((rows, 0), dtype=torch.long)
        return self.network.head(self.network(numeric, codes))


def network_graph(
    network: TabularNetwork, n_numeric: int, n_categorical: int, opset: int = 17
) -> onnx.ModelProto:
    """The network as ONNX: ``numeric`` float32 [rows, n] and ``codes`` int64 [rows, k] in."""
    head = _TargetUnits(network, numeric=n_numeric > 0, categorical=n_categorical > 0).eval()
    device = next(network.parameters()).device
    rows = 3  # any batch size but 1, so nothing is specialised to a single row
    examples: list[torch.Tensor] = []
    names: list[str] = []
    if n_numeric:
        examples.append(torch.zeros((rows, n_numeric), dtype=torch.float32, device=device))
        names.append("numeric")
    if n_categorical:
        examples.append(torch.zeros((rows, n_categorical), dtype=torch.long, device=device))
        names.append("codes")
    with tempfile.TemporaryDirectory(prefix="deepfit-export-") as folder:
        graph_path = Path(folder) / "network.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches
            torch.onnx.export(
                head,
                tuple(examples),
                graph_path,
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes={name: {0: "rows"} for name in [*names, OUTPUT_NAME]},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        return onnx.load(str(graph_path))


def _front_model(
    model: Estimator, specs: list[dict[str, Any]], opset: int, *, ir_version: int
) -> onnx.ModelProto:
    """Raw columns in; ``numeric`` float32 [rows, n] and ``codes`` int64 [rows, k] out."""
    prep = model.preprocessor_
    build = GraphBuilder()
    numeric_parts: dict[str, str] = {}
    code_parts: dict[str, str] = {}
    inputs: list[onnx.ValueInfoProto] = []
    for spec in specs:
        name, role = spec["name"], spec["role"]
        inputs.append(helper.make_tensor_value_info(name, _ONNX_TYPES[spec["dtype"]], ["rows"]))
        if role in ("numeric", "boolean"):
            numeric_parts[name] = build.column(name)
        elif role == "categorical":
            code_parts[name] = build.column(_category_codes(build, name, spec["categories"]))
        elif role == "datetime":
            for part, vector in date_parts(build, name, spec["parts"]).items():
                numeric_parts[f"{name}.{part}"] = build.column(vector)
    outputs: list[onnx.ValueInfoProto] = []
    if prep.numeric_names:
        columns = [numeric_parts[name] for name in prep.numeric_names]
        build.nodes.append(
            helper.make_node("Concat", columns, [f"{INTERNAL_PREFIX}numeric"], axis=1)
        )
        outputs.append(
            helper.make_tensor_value_info(
                f"{INTERNAL_PREFIX}numeric", TensorProto.FLOAT, ["rows", len(prep.numeric_names)]
            )
        )
    if prep.categorical_names:
        columns = [code_parts[name] for name in prep.categorical_names]
        build.nodes.append(helper.make_node("Concat", columns, [f"{INTERNAL_PREFIX}codes"], axis=1))
        outputs.append(
            helper.make_tensor_value_info(
                f"{INTERNAL_PREFIX}codes", TensorProto.INT64, ["rows", len(prep.categorical_names)]
            )
        )
    graph = helper.make_graph(
        build.nodes, "deepfit_inputs", inputs, outputs, initializer=build.initializers
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        ir_version=ir_version,
    )


def _category_codes(build: GraphBuilder, name: str, categories: list[str]) -> str:
    """int64 codes: 1 + position in the vocabulary, 0 for anything else."""
    if not categories:
        zero = helper.make_tensor("zero", TensorProto.INT64, [1], [0])
        return build.op("ConstantOfShape", build.op("Shape", name), value=zero)
    return build.op(
        "LabelEncoder",
        name,
        domain="ai.onnx.ml",
        keys_strings=list(categories),
        values_int64s=list(range(1, len(categories) + 1)),
        default_int64=0,
    )
