"""``deepfit serve`` and ``deepfit export``: a saved model over HTTP, or as an ONNX graph.

A table model answers ``POST /predict``; a forecaster answers ``POST /forecast``, and its
export is the network from scaled windows to the scaled horizon (see
:mod:`deepfit.export.series`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deepfit.cli.common import ModelPath
from deepfit.cli.harness import say, tell, user_errors

if TYPE_CHECKING:
    from deepfit.estimator import Forecaster


@user_errors
def serve(
    model_path: ModelPath,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (about one per core).")] = 1,
    threads: Annotated[int, typer.Option(help="Compute threads per worker.")] = 1,
    backend: Annotated[
        str,
        typer.Option(help="onnx (ONNX Runtime, fastest) or torch; a forecaster uses torch."),
    ] = "onnx",
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Require the API key held in this environment variable."),
    ] = None,
    max_body_mb: Annotated[float, typer.Option(help="Larger request bodies get 413.")] = 32.0,
    max_rows: Annotated[
        int, typer.Option(help="More rows (history and future records) per request get 413.")
    ] = 100_000,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    request_timeout: Annotated[
        float, typer.Option(help="Seconds a client has to send a request's body; then 408.")
    ] = 30.0,
    max_connections: Annotated[
        int, typer.Option(help="Open connections per worker; more get 503.")
    ] = 1024,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="A Host header name to answer besides localhost, 127.0.0.1 and [::1] "
            "(repeatable); on loopback without a key, other names get 400.",
        ),
    ] = None,
    drift: Annotated[
        bool,
        typer.Option(
            help="Track the served rows' drift from the training data (GET /drift, and "
            "deepfit_feature_drift in /metrics)."
        ),
    ] = True,
    all_members: Annotated[
        bool,
        typer.Option(
            help="Run every member of a TabM model. By default the server runs the few "
            "members that training chose and taught all members' answers (see /metadata): "
            "nearly as accurate, for a fraction of the arithmetic."
        ),
    ] = False,
) -> None:
    """Serve MODEL over HTTP: POST /predict (a table model; an image model takes images as
    multipart uploads or base64 JSON) or POST /forecast (a forecaster), GET /health,
    /metadata, /metrics, /drift, /docs."""
    from deepfit.errors import ConfigError
    from deepfit.serve import ServerSettings
    from deepfit.serve import serve as run_server

    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ConfigError(
                f"--api-key-env names {api_key_env}, but that environment variable is empty "
                "or unset; export the key first"
            )
    if max_body_mb <= 0 or max_rows < 1:
        raise ConfigError("--max-body-mb and --max-rows must be positive")
    if backend not in ("onnx", "torch"):
        raise ConfigError(f"--backend must be onnx or torch, however: {backend!r}")
    settings = ServerSettings(
        api_key=api_key,
        max_body_bytes=int(max_body_mb * 2**20),
        max_rows=max_rows,
        backend="torch" if backend == "torch" else "onnx",
        threads=threads,
        request_timeout=request_timeout,
        max_connections=max_connections,
        drift=drift,
        all_members=all_members,
    )
    run_server(
        model_path,
        host=host,
        port=port,
        workers=workers,
        settings=settings,
        api_key_env=api_key_env,
        access_log=access_log,
        announce=lambda line: tell(f"{model_path}: {line}"),
        extra_hosts=allowed_host or (),
    )


@user_errors
def export(
    model_path: ModelPath,
    onnx_path: Annotated[
        Path,
        typer.Option(
            "--onnx",
            help="The ONNX file to write: raw columns in, prediction out (a forecaster: scaled "
            "windows in, the scaled horizon out).",
        ),
    ],
    quantize: Annotated[
        bool, typer.Option("--quantize", help="Write an int8 model (dynamic quantization).")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Held-out CSV or Parquet rows to check the export on (a forecaster: history "
            "rows to cut windows from; an image model: a folder of images)."
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="Target column in --data; the model's own by default."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the ONNX file if it exists.")
    ] = False,
) -> None:
    """Export MODEL to ONNX for onnxruntime, and check its predictions against deepfit's."""
    from deepfit.data.io import read_table
    from deepfit.estimator import Forecaster, ImageRegressor, load
    from deepfit.export import export_checked
    from deepfit.files import check_writable
    from deepfit.trained import split_target

    check_writable(onnx_path, overwrite=force)
    model = load(model_path)
    if isinstance(model, ImageRegressor):
        _export_image(model, onnx_path, data=data, quantize=quantize, target=target, force=force)
        return
    if isinstance(model, Forecaster):
        _export_forecaster(
            model, onnx_path, data=data, quantize=quantize, target=target, force=force
        )
        return
    rows, truth = None, None
    if data is not None:
        rows = read_table(data)
        column = target or model.target_name_
        if target is not None or column in rows.columns:
            rows, truth = split_target(rows, column, model.task_)
    report = export_checked(
        model, onnx_path, rows=rows, target=truth, quantize=quantize, overwrite=force
    )
    kind = "int8" if report.quantized else "fp32"
    say(f"wrote {report.path} ({kind}, {report.bytes / 1024:,.1f} KiB)")
    source = (
        f"{report.rows} synthetic rows drawn from the training statistics (no --data given)"
        if report.synthetic
        else f"{report.rows} rows of {data}"
    )
    say(f"checked on {source}")
    say(
        f"onnxruntime (fp32) vs deepfit: max abs difference {report.vs_deepfit.max_abs:.3g}, "
        f"max relative difference {report.vs_deepfit.max_rel:.3g}"
    )
    quantized = report.quantized
    if quantized is None:
        return
    say(
        f"size: fp32 {quantized.fp32_bytes / 1024:,.1f} KiB, int8 "
        f"{quantized.int8_bytes / 1024:,.1f} KiB "
        f"({quantized.int8_bytes / quantized.fp32_bytes:.0%} of fp32)"
    )
    say(
        f"speed (onnxruntime, {report.rows} rows, best of 5): fp32 "
        f"{quantized.fp32_rows_per_second:,.0f} rows/s, int8 "
        f"{quantized.int8_rows_per_second:,.0f} rows/s"
    )
    fp32, int8 = quantized.fp32_score, quantized.int8_score
    if fp32 is not None and int8 is not None:
        label = model.task_.shown_metrics[quantized.metric]
        say(f"accuracy: {label} fp32 {fp32:.4g}, int8 {int8:.4g} ({int8 - fp32:+.3g})")
    else:
        say(
            f"accuracy: int8 differs from fp32 by {quantized.vs_fp32.mean_abs:.3g} on average, "
            f"{quantized.vs_fp32.max_abs:.3g} at most (no target column to score them)"
        )


def _export_image(
    model: Any,
    onnx_path: Path,
    *,
    data: Path | None,
    quantize: bool,
    target: str | None,
    force: bool,
) -> None:
    """``deepfit export`` of an image model: uint8 pixels in, the target out, checked on up to
    64 images of the folder ``data`` or on seeded noise."""
    import numpy as np

    from deepfit.errors import ConfigError
    from deepfit.export.image import export_image_model
    from deepfit.export.runtime import MAX_DIFFERENCE

    if quantize or target is not None:
        raise ConfigError("--quantize and --target do not apply to an image model")
    images = None
    if data is not None:
        opened = model.open_for_prediction(data)
        rows = np.unique(np.linspace(0, len(opened.store) - 1, 64).astype(int))
        images = opened.store.take(rows).permute(0, 2, 3, 1).numpy()
    path = export_image_model(model, onnx_path, images=images, overwrite=force)
    prep = model.check_fitted().preparer
    say(
        f"wrote {path} (fp32, {path.stat().st_size / 1024:,.1f} KiB): input 'image' uint8 "
        f"[batch, {prep.size}, {prep.size}, {prep.channels}], output '{prep.target_name}' in "
        "its own units"
    )
    source = "seeded noise" if data is None else f"up to 64 images of {data}"
    say(f"checked on {source}: onnxruntime matches torch within {MAX_DIFFERENCE:g}")


def _export_forecaster(
    model: Forecaster,
    onnx_path: Path,
    *,
    data: Path | None,
    quantize: bool,
    target: str | None,
    force: bool,
) -> None:
    """``deepfit export`` of a forecaster: its network, checked on windows of ``data`` (history
    rows) or on synthetic windows."""
    from deepfit.data.io import read_table
    from deepfit.errors import ConfigError
    from deepfit.export.runtime import MAX_DIFFERENCE
    from deepfit.export.series import CHECK_WINDOWS, export_forecaster

    if quantize or target is not None:
        raise ConfigError(
            "--quantize and --target do not apply to a forecaster; export it without them"
        )
    history = None if data is None else read_table(data)
    path = export_forecaster(model, onnx_path, history=history, overwrite=force)
    say(f"wrote {path} (fp32, {path.stat().st_size / 1024:,.1f} KiB)")
    source = "synthetic windows" if data is None else f"up to {CHECK_WINDOWS} windows of {data}"
    say(f"checked on {source}: onnxruntime matches torch within {MAX_DIFFERENCE:g} (scaled units)")
