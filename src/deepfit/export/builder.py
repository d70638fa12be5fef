"""A small helper that appends ONNX nodes and constants under unique internal names."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

INTERNAL_PREFIX = (
    "deepfit::"  # prefix of the graph's own tensor names, kept apart from column names
)


class GraphBuilder:
    """Appends nodes and constants to a graph under construction, with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._constants: dict[tuple[str, float], str] = {}
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{INTERNAL_PREFIX}{hint}_{self._count}"

    def const(self, value: float | list[int], dtype: str = "float64") -> str:
        if isinstance(value, list):
            name = self.name("axes")
            self.initializers.append(numpy_helper.from_array(np.array(value, np.int64), name))
            return name
        key = (dtype, float(value))
        if key not in self._constants:
            name = self.name("c")
            array = np.array(value, dtype=np.dtype(dtype))
            self.initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def op(self, op_type: str, *inputs: str, domain: str = "", **attributes: Any) -> str:
        output = self.name(op_type.lower())
        self.nodes.append(
            helper.make_node(
                op_type, list(inputs), [output], name=output, domain=domain, **attributes
            )
        )
        return output

    # double arithmetic on whole numbers stays exact below 2**53
    def add(self, a: str, b: str | float) -> str:
        return self.op("Add", a, b if isinstance(b, str) else self.const(b))

    def sub(self, a: str, b: str | float) -> str:
        return self.op("Sub", a, b if isinstance(b, str) else self.const(b))

    def mul(self, a: str, b: str | float) -> str:
        return self.op("Mul", a, b if isinstance(b, str) else self.const(b))

    def floor_div(self, a: str, b: float) -> str:
        return self.op("Floor", self.op("Div", a, self.const(b)))

    def column(self, vector: str) -> str:
        """A ``[rows]`` tensor as ``[rows, 1]``."""
        return self.op("Unsqueeze", vector, self.const([1]))
