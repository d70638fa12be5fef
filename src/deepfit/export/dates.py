"""Date parts computed inside an ONNX graph from float64 days since 1970 (exact calendar maths)."""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import TensorProto, helper

from deepfit.data.preprocess import (
    DATE_PARTS,
)
from deepfit.errors import ConfigError
from deepfit.export.builder import GraphBuilder

HOUR_TOLERANCE = 1e-8  # hours: float64 days near 2262 carry about 1e-9 hours of rounding


def date_parts(build: GraphBuilder, days: str, parts: list[str]) -> dict[str, str]:
    """float32 ``[rows]`` tensors of the requested date parts of float64 ``days`` since 1970.

    Midnight is a whole number of days exactly, so the day is the floor of ``days``; the
    hour allows :data:`HOUR_TOLERANCE` for rounding. NaN days give NaN parts, since every
    step keeps NaN.
    """
    result: dict[str, str] = {}
    whole_days = build.op("Floor", days)
    civil: dict[str, str] = {}
    if {"year", "month", "day", "day_of_year"} & set(parts):
        civil = _civil_from_days(build, whole_days)
    for part in parts:
        if part in ("year", "month", "day"):
            value = civil[part]
        elif part == "day_of_year":
            value = build.add(build.sub(whole_days, _days_to_new_year(build, civil["year"])), 1.0)
        elif part == "day_of_week":  # 1970-01-01 was a Thursday (Monday = 0)
            shifted = build.add(whole_days, 3.0)
            value = build.sub(shifted, build.mul(build.floor_div(shifted, 7.0), 7.0))
        elif part == "hour":
            hours = build.add(build.mul(build.sub(days, whole_days), 24.0), HOUR_TOLERANCE)
            value = build.op("Min", build.op("Floor", hours), build.const(23.0))
        elif part == "days_since_1970":
            value = days
        else:
            raise ConfigError(f"unknown date part {part!r}; known parts: {', '.join(DATE_PARTS)}")
        result[part] = build.op("Cast", value, to=TensorProto.FLOAT)
    return result


def date_parts_graph(
    parts: Sequence[str] = DATE_PARTS, *, opset: int = 17, ir_version: int = 8
) -> onnx.ModelProto:
    """A stand-alone graph from ``days`` (float64 [rows], days since 1970-01-01 UTC) to one
    float32 [rows] output per date part, as the exported models compute them.

    Example:
        >>> import onnxruntime as ort  # doctest: +SKIP
        >>> graph = date_parts_graph(["year", "day_of_week"])
        >>> session = ort.InferenceSession(graph.SerializeToString())  # doctest: +SKIP
        >>> session.run(None, {"days": np.array([19_783.5])})  # 2024-03-01 12:00  # doctest: +SKIP
        [array([2024.], dtype=float32), array([4.], dtype=float32)]
    """
    build = GraphBuilder()
    computed = date_parts(build, "days", list(parts))
    outputs = []
    for part, tensor in computed.items():
        build.nodes.append(helper.make_node("Identity", [tensor], [part]))
        outputs.append(helper.make_tensor_value_info(part, TensorProto.FLOAT, ["rows"]))
    days = helper.make_tensor_value_info("days", TensorProto.DOUBLE, ["rows"])
    graph = helper.make_graph(
        build.nodes, "deepfit_date_parts", [days], outputs, initializer=build.initializers
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _civil_from_days(build: GraphBuilder, days: str) -> dict[str, str]:
    """Year, month and day of whole days since 1970-01-01 (proleptic Gregorian calendar)."""
    z = build.add(days, 719_468.0)  # days since 0000-03-01
    era = build.floor_div(z, 146_097.0)
    day_of_era = build.sub(z, build.mul(era, 146_097.0))  # [0, 146096]
    year_of_era = build.floor_div(
        build.sub(
            build.add(
                build.sub(day_of_era, build.floor_div(day_of_era, 1_460.0)),
                build.floor_div(day_of_era, 36_524.0),
            ),
            build.floor_div(day_of_era, 146_096.0),
        ),
        365.0,
    )  # [0, 399]
    day_of_march_year = build.sub(
        day_of_era,
        build.sub(
            build.add(build.mul(year_of_era, 365.0), build.floor_div(year_of_era, 4.0)),
            build.floor_div(year_of_era, 100.0),
        ),
    )  # [0, 365], from March 1st
    march_month = build.floor_div(build.add(build.mul(day_of_march_year, 5.0), 2.0), 153.0)
    day = build.add(
        build.sub(
            day_of_march_year,
            build.floor_div(build.add(build.mul(march_month, 153.0), 2.0), 5.0),
        ),
        1.0,
    )
    before_march = build.op("Less", march_month, build.const(10.0))
    month = build.add(
        march_month, build.op("Where", before_march, build.const(3.0), build.const(-9.0))
    )
    january_or_february = build.op("LessOrEqual", month, build.const(2.0))
    year = build.add(
        build.add(year_of_era, build.mul(era, 400.0)),
        build.op("Cast", january_or_february, to=TensorProto.DOUBLE),
    )
    return {"year": year, "month": month, "day": day}


def _days_to_new_year(build: GraphBuilder, year: str) -> str:
    """Days from 1970-01-01 to January 1st of ``year`` (Hinnant's ``days_from_civil``)."""
    previous = build.sub(year, 1.0)  # January counts in the March-based year before
    era = build.floor_div(previous, 400.0)
    year_of_era = build.sub(previous, build.mul(era, 400.0))
    day_of_era = build.add(
        build.sub(
            build.add(build.mul(year_of_era, 365.0), build.floor_div(year_of_era, 4.0)),
            build.floor_div(year_of_era, 100.0),
        ),
        306.0,  # March 1st to January 1st
    )
    return build.sub(build.add(build.mul(era, 146_097.0), day_of_era), 719_468.0)
