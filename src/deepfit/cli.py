"""The ``deepfit`` command: train, predict, evaluate, info, demo, serve, export.

Every error a user can cause is printed as one line on standard error with exit status 1.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import typer
from rich.console import Console

from deepfit.errors import DeepfitError, DeepfitWarning

app = typer.Typer(
    help="Deep-learning regression for tables: train, evaluate, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

# arguments that several commands share
ModelPath = Annotated[Path, typer.Argument(metavar="MODEL", help="A .deepfit model file.")]
LabelledData = Annotated[
    Path, typer.Argument(help="Labelled CSV or Parquet file (features and target).")
]
ModelTarget = Annotated[
    str | None,
    typer.Option("--target", "-t", help="Target column; the model's own by default."),
]


def _show_version(value: bool) -> None:
    if value:
        from deepfit import __version__

        out.print(f"deepfit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Deep-learning regression for tables: train, evaluate, predict."""


def fail(message: str) -> None:
    """Print ``message`` as the one-line error and exit with status 1."""
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(1)


def user_errors(command: F) -> F:
    """Turn deepfit's errors (and anything unexpected) into one line and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with _notes():
                return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except DeepfitError as error:
            fail(str(error))
        except KeyboardInterrupt:
            fail("interrupted")
        except Exception as error:
            if os.environ.get("DEEPFIT_DEBUG"):
                raise
            first_line = str(error).splitlines()[0] if str(error) else ""
            fail(
                f"unexpected {type(error).__name__}: {first_line} "
                "(set DEEPFIT_DEBUG=1 for the traceback, and please report it)"
            )
        return None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _notes() -> Iterator[None]:
    """Print deepfit's own warnings as notes when they happen; keep third-party ones out."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, DeepfitWarning):
            err.print(f"[yellow]note:[/yellow] {message}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", DeepfitWarning)
        warnings.showwarning = show
        yield


def _split_names(values: list[str] | None) -> list[str]:
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _hidden_layers(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise typer.BadParameter(
            f"expected positive widths separated by commas, e.g. 256,256; got {text!r}"
        )
    return widths


def _model_options(pairs: list[str] | None) -> dict[str, Any] | None:
    """``["k=16", "tabm_variant=mini"]`` as ``{"k": 16, "tabm_variant": "mini"}``."""
    if not pairs:
        return None
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sign, text = pair.partition("=")
        if not sign or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, e.g. d_token=96; got {pair!r}")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        options[key.strip()] = value
    return options


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise typer.BadParameter(f"expected a positive whole number or 'auto'; got {text!r}")
    return int(text)


@app.command()
@user_errors
def train(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file with features and the target.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Name of the column to predict.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model.")] = Path(
        "model.deepfit"
    ),
    validation: Annotated[
        Path | None,
        typer.Option(help="A separate validation file; then DATA is split into train/test only."),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            help="Network: auto (deepfit picks it and its training recipe; the settings you "
            "leave at their defaults are auto's), mlp, resnet, ft_transformer or ensemble (TabM)."
        ),
    ] = "auto",
    numeric_embedding: Annotated[
        str | None,
        typer.Option(help="Embed numeric features: periodic (PLR) or piecewise (quantile bins)."),
    ] = None,
    model_option: Annotated[
        list[str] | None,
        typer.Option(
            help="An architecture setting KEY=VALUE, e.g. d_token=96 or k=16 (repeatable)."
        ),
    ] = None,
    interval_method: Annotated[
        str,
        typer.Option(
            help="Prediction intervals: conformal (one width, any level) or quantile "
            "(a second network: a width per row; levels 0.05 ... 0.95)."
        ),
    ] = "conformal",
    hidden_layers: Annotated[
        str, typer.Option(help="Hidden widths, e.g. 256,256.")
    ] = "256,256,256",
    activation: Annotated[
        str, typer.Option(help="relu, leaky_relu, elu, gelu, selu, tanh, sigmoid, mish, silu.")
    ] = "relu",
    dropout: Annotated[float, typer.Option(help="Dropout after each hidden layer.")] = 0.1,
    norm: Annotated[str | None, typer.Option(help="batch or layer normalisation.")] = None,
    loss: Annotated[str, typer.Option(help="mse, mae or huber.")] = "mse",
    optimizer: Annotated[str, typer.Option(help="adamw, adam, sgd or rmsprop.")] = "adamw",
    learning_rate: Annotated[float, typer.Option("--learning-rate", "--lr")] = 1e-3,
    weight_decay: Annotated[float, typer.Option()] = 1e-5,
    schedule: Annotated[str, typer.Option(help="cosine, plateau, constant or anneal.")] = "cosine",
    l1: Annotated[float, typer.Option(help="L1 penalty on weights.")] = 0.0,
    l2: Annotated[
        float, typer.Option(help="L2 penalty on weights (with --l1: elastic net).")
    ] = 0.0,
    batch_size: Annotated[
        str, typer.Option(help="Rows per step, or auto (64 to 512, growing with the data).")
    ] = "auto",
    max_epochs: Annotated[int, typer.Option()] = 200,
    patience: Annotated[
        int, typer.Option(help="Early-stopping patience in epochs; 0 turns it off.")
    ] = 20,
    time_limit: Annotated[
        float | None, typer.Option(help="Stop training after this many seconds.")
    ] = None,
    validation_fraction: Annotated[float, typer.Option()] = 0.15,
    test_fraction: Annotated[float, typer.Option()] = 0.15,
    seed: Annotated[int, typer.Option(help="Seed for the split and the training.")] = 0,
    categorical: Annotated[
        list[str] | None, typer.Option(help="Treat these columns as categorical.")
    ] = None,
    numeric: Annotated[
        list[str] | None, typer.Option(help="Treat these columns as numeric.")
    ] = None,
    drop: Annotated[list[str] | None, typer.Option(help="Ignore these columns.")] = None,
    baselines: Annotated[
        bool, typer.Option(help="Fit mean, ridge, tree and LightGBM for comparison.")
    ] = True,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    force: Annotated[
        bool, typer.Option("--force", help="Replace the model file if it exists.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    checkpoint_dir: Annotated[
        Path | None,
        typer.Option(help="Save the whole training state here, to continue it with --resume."),
    ] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Epochs between checkpoints.")] = 1,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the run saved in --checkpoint-dir (if there is one)."
        ),
    ] = False,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Fine-tune this saved model: its columns, preprocessing and architecture "
            "(--hidden-layers etc. are ignored) and weights; training settings from here."
        ),
    ] = None,
    train_last: Annotated[
        int | None,
        typer.Option(help="With --init-from: train only the last K linear layers."),
    ] = None,
    ensemble: Annotated[
        int,
        typer.Option(
            "--ensemble",
            help="Train K networks (seeds SEED..SEED+K-1) and predict their mean; the "
            "members' spread is kept. --time-limit is for all K together.",
        ),
    ] = 1,
    bootstrap: Annotated[
        bool,
        typer.Option(
            "--bootstrap", help="With --ensemble: train each member on a bootstrap resample."
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML report of the model on the test split here."),
    ] = None,
) -> None:
    """Train a network on DATA to predict TARGET, print metrics beside baselines, save the model.

    Ctrl-C stops training after the current batch, then scores and saves the best model so far
    and exits with status 130; a second Ctrl-C aborts at once.
    """
    from deepfit.files import check_writable
    from deepfit.training.state import INTERRUPTED
    from deepfit.workflow import train_table

    check_writable(out_path, overwrite=force)
    if report is not None:
        check_writable(report, overwrite=force)
    roles = {name: "categorical" for name in _split_names(categorical)}
    roles |= {name: "numeric" for name in _split_names(numeric)}
    roles |= {name: "drop" for name in _split_names(drop)}
    architecture: dict[str, Any] = {
        "model": model,
        "hidden_layers": _hidden_layers(hidden_layers),
        "activation": activation,
        "dropout": dropout,
        "norm": norm,
        "numeric_embedding": numeric_embedding,
        "model_options": _model_options(model_option),
    }
    if init_from is not None:
        architecture = _architecture_of(init_from)
    try:
        result = train_table(
            data,
            target=target,
            validation=validation,
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            seed=seed,
            baselines=baselines,
            resume=resume,
            **architecture,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            schedule=schedule,
            l1=l1,
            l2=l2,
            batch_size=_batch_size(batch_size),
            max_epochs=max_epochs,
            patience=patience or None,
            time_limit=time_limit,
            column_roles=roles or None,
            device=device,
            verbose=0 if quiet else 1,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
            init_from=init_from,
            train_last=train_last,
            n_ensemble=ensemble,
            bootstrap=bootstrap,
            interval_method=interval_method,
        )
        _print_training(result)
        resumed = result.model.training_summary_.get("resumed_from_epoch")
        if resumed is not None:
            out.print(f"resumed from the checkpoint of epoch {resumed}", highlight=False)
        result.model.save(out_path, overwrite=force)
        out.print(f"saved model to {out_path}", highlight=False)
        if report is not None:
            _write_train_report(result, report, overwrite=force)
    except KeyboardInterrupt:  # Ctrl-C outside training, or a second one during it
        err.print("[red]error:[/red] aborted (Ctrl-C); no model was saved", highlight=False)
        raise typer.Exit(130) from None
    summary = result.model.training_summary_
    if summary.get("stop_reason") == INTERRUPTED:
        skipped = ", without baselines" if baselines else ""
        again = f"; --resume continues from the last checkpoint in {checkpoint_dir}"
        err.print(
            f"interrupted (Ctrl-C) after {summary.get('epochs')} epoch(s): saved the best model "
            f"so far to {out_path}{skipped}{again if checkpoint_dir is not None else ''}",
            highlight=False,
        )
        raise typer.Exit(130)


def _write_train_report(result: Any, path: Path, *, overwrite: bool) -> None:
    """``train --report``: the HTML report on the test split's rows."""
    from deepfit.report.report import write_report

    if result.test is None or len(result.test[1]) < 2:
        err.print("note: no report written: the test split has fewer than 2 rows", highlight=False)
        return
    X_test, y_test = result.test
    write_report(result.model, X_test, y_test, path, overwrite=overwrite)
    out.print(f"wrote the report on {len(y_test)} test rows to {path}", highlight=False)


def _architecture_of(path: Path) -> dict[str, Any]:
    """The architecture options of a saved model, which fine-tuning it keeps."""
    from deepfit.artifact import load
    from deepfit.estimator import ARCHITECTURE

    params = load(path).get_params()
    return {key: params[key] for key in ARCHITECTURE}


def _print_training(result: Any) -> None:
    from deepfit.report.console import metrics_table, schema_table, splits_table, training_lines

    model = result.model
    sizes = ", ".join(f"{n} {split}" for split, n in result.split_sizes.items())
    out.print(f"rows: {sizes}", highlight=False)
    out.print(schema_table(model))
    for line in training_lines(model):
        out.print(line, highlight=False)
    out.print(splits_table(result.metrics["deepfit"], title="deepfit on each split"))
    split = "test" if "test" in result.metrics["deepfit"] else "validation"
    out.print(
        metrics_table(
            result.metrics,
            split=split,
            title=f"{split} set: deepfit beside baselines ({model.target_name_})",
        )
    )


@app.command()
@user_errors
def predict(
    model_path: ModelPath,
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file with the feature columns.")],
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="CSV to write; standard output if omitted.")
    ] = None,
    with_input: Annotated[
        bool, typer.Option(help="Write the input columns before the prediction.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the output file if it exists.")
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            help="Add lower_TARGET and upper_TARGET columns: a conformal interval holding "
            "the target of this share of rows, e.g. 0.9."
        ),
    ] = None,
) -> None:
    """Predict the target for every row of DATA (with --interval, bounds too)."""
    from deepfit.artifact import load
    from deepfit.data.io import read_table
    from deepfit.evaluation.intervals import check_level
    from deepfit.files import atomic_writer, check_writable

    if interval is not None:
        check_level(interval)
    if out_path is not None:
        check_writable(out_path, overwrite=force)
    model = load(model_path)
    if interval is not None:
        model.interval_calibration(interval)  # before reading DATA: can it give intervals?
    frame = read_table(data)
    result = model.predict_with_details(frame, interval=interval)
    target = model.target_name_
    table = frame.copy() if with_input else pd.DataFrame(index=frame.index)
    table[f"predicted_{target}"] = result.values
    if result.lower is not None and result.upper is not None:
        table[f"lower_{target}"] = result.lower
        table[f"upper_{target}"] = result.upper
    if result.unseen_categories:
        err.print(
            f"note: {result.unseen_categories} categorical value(s) were not seen in training "
            "and used the 'unknown' category",
            highlight=False,
        )
    if out_path is None:
        table.to_csv(sys.stdout, index=False)
        return
    with atomic_writer(out_path, overwrite=force, mode="w") as handle:
        table.to_csv(handle, index=False)
    err.print(f"wrote {len(table)} predictions to {out_path}", highlight=False)


@app.command()
@user_errors
def evaluate(
    model_path: ModelPath,
    data: LabelledData,
    target: ModelTarget = None,
    cv: Annotated[
        int | None,
        typer.Option(
            "--cv",
            metavar="K",
            help="Instead: retrain MODEL's settings on K folds of DATA (K >= 2) and show each "
            "metric as mean ± std over the held-out folds.",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="With --cv: seed for the folds and the training [0].")
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="With --cv: also mean, ridge, tree and LightGBM on the folds.")
    ] = True,
) -> None:
    """Metrics of MODEL on labelled DATA, in the target's units.

    With --cv K, MODEL is not scored itself: its training settings are retrained from scratch
    on K-1 folds and scored on the remaining one, K times, beside the baselines.
    """
    from deepfit.artifact import load
    from deepfit.data.io import read_table
    from deepfit.errors import ConfigError
    from deepfit.evaluation.metrics import regression_metrics
    from deepfit.report.console import splits_table
    from deepfit.workflow import split_target

    if cv is None and (seed is not None or not baselines):
        raise ConfigError("--seed and --no-baselines apply only with --cv")
    model = load(model_path)
    if cv is not None:
        _cross_validate(
            model, model_path, data, target, folds=cv, seed=seed or 0, baselines=baselines
        )
        return
    X, y = split_target(read_table(data), target or model.target_name_)
    result = model.predict_with_details(X)
    if result.unseen_categories:
        err.print(
            f"note: {result.unseen_categories} categorical value(s) were not seen in training",
            highlight=False,
        )
    scores = regression_metrics(y, result.values)
    out.print(splits_table({"test": scores}, title=f"{data.name}: {len(y)} rows"))


def _cross_validate(
    model: Any, model_path: Path, data: Path, target: str | None, **options: Any
) -> None:
    """``evaluate --cv``: MODEL's settings retrained on the folds of DATA, with its columns."""
    from deepfit.data.io import read_table
    from deepfit.data.preprocess import check_columns
    from deepfit.evaluation.crossval import Fold, cross_validate, retraining_params

    target = target or model.target_name_
    frame = read_table(data)
    names = getattr(model, "feature_names_in_", None)
    if names is not None:  # the columns MODEL was trained on, and no others
        features = [str(name) for name in names if str(name) != target]
        check_columns(frame, features)
        frame = frame[[*features, target]] if target in frame.columns else frame[features]
    folds = options["folds"]

    def progress(fold: Fold) -> None:
        rmse = fold.scores["deepfit"].get("rmse", float("nan"))
        err.print(f"fold {fold.number}/{folds}: deepfit RMSE {rmse:.4g}", highlight=False)

    result = cross_validate(
        frame, target=target, progress=progress, **options, **retraining_params(model)
    )
    out.print(
        f"{data.name}: {model_path.name}'s settings retrained on {folds} folds of "
        f"{result.n_rows} rows, predicting '{target}'; scores on the held-out fold",
        highlight=False,
    )
    out.print(result.table())


@app.command()
@user_errors
def info(
    model_path: ModelPath,
) -> None:
    """Schema, model, training summary and metrics of a saved model."""
    from deepfit.artifact import load
    from deepfit.report.console import metrics_table, schema_table, training_lines

    model = load(model_path)
    versions = model.metadata_
    out.print(
        f"{model_path}: predicts '{model.target_name_}'; written by deepfit "
        f"{versions.get('deepfit_version')} (format {versions.get('format_version')}) at "
        f"{versions.get('created_at')}",
        highlight=False,
    )
    out.print(schema_table(model))
    for line in training_lines(model):
        out.print(line, highlight=False)
    summary = model.training_summary_
    out.print(
        f"rows: {summary.get('train_rows')} train, {summary.get('validation_rows')} validation",
        highlight=False,
    )
    metrics = getattr(model, "metrics_", None)
    if metrics:
        for split in ("test", "validation", "train"):
            if split in metrics.get("deepfit", {}):
                out.print(
                    metrics_table(metrics, split=split, title=f"{split} set at training time")
                )


@app.command()
@user_errors
def demo(
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the demo model.")
    ] = Path("runs/diamonds.deepfit"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train on the bundled diamonds data (53,940 rows, target: price) and report."""
    from deepfit.data.datasets import DIAMONDS_TARGET, load_diamonds
    from deepfit.workflow import train_table

    frame = load_diamonds()
    out.print(
        f"demo: ggplot2 diamonds (from plotnine), {len(frame):,} rows, "
        f"predicting '{DIAMONDS_TARGET}' from {frame.shape[1] - 1} columns",
        highlight=False,
    )
    result = train_table(frame, target=DIAMONDS_TARGET, verbose=0 if quiet else 1)
    _print_training(result)
    result.model.save(out_path, overwrite=True)  # the demo's own output, replaced on each run
    out.print(f"saved model to {out_path}; try: deepfit info {out_path}", highlight=False)


@app.command()
@user_errors
def serve(
    model_path: ModelPath,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (about one per core).")] = 1,
    threads: Annotated[int, typer.Option(help="Compute threads per worker.")] = 1,
    backend: Annotated[str, typer.Option(help="onnx (ONNX Runtime, fastest) or torch.")] = "onnx",
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Require the API key held in this environment variable."),
    ] = None,
    max_body_mb: Annotated[float, typer.Option(help="Larger request bodies get 413.")] = 32.0,
    max_rows: Annotated[int, typer.Option(help="More rows per request get 413.")] = 100_000,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve MODEL over HTTP: POST /predict, GET /health, /metadata, /metrics, /docs."""
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
    )
    run_server(
        model_path,
        host=host,
        port=port,
        workers=workers,
        settings=settings,
        api_key_env=api_key_env,
        access_log=access_log,
        announce=lambda line: err.print(f"{model_path}: {line}", highlight=False),
    )


@app.command()
@user_errors
def export(
    model_path: ModelPath,
    onnx_path: Annotated[
        Path, typer.Option("--onnx", help="The ONNX file to write: raw columns in, prediction out.")
    ],
    quantize: Annotated[
        bool, typer.Option("--quantize", help="Write an int8 model (dynamic quantization).")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(help="Held-out CSV or Parquet rows to check the export on."),
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
    from deepfit.artifact import load
    from deepfit.data.io import read_table
    from deepfit.export import export_checked
    from deepfit.files import check_writable
    from deepfit.workflow import split_target

    check_writable(onnx_path, overwrite=force)
    model = load(model_path)
    rows, truth = None, None
    if data is not None:
        rows = read_table(data)
        column = target or model.target_name_
        if target is not None or column in rows.columns:
            rows, truth = split_target(rows, column)
    report = export_checked(
        model, onnx_path, rows=rows, target=truth, quantize=quantize, overwrite=force
    )
    kind = "int8" if report.quantized else "fp32"
    out.print(f"wrote {report.path} ({kind}, {report.bytes / 1024:,.1f} KiB)", highlight=False)
    source = (
        f"{report.rows} synthetic rows drawn from the training statistics (no --data given)"
        if report.synthetic
        else f"{report.rows} rows of {data}"
    )
    out.print(f"checked on {source}", highlight=False)
    out.print(
        f"onnxruntime (fp32) vs deepfit: max abs difference {report.vs_deepfit.max_abs:.3g}, "
        f"max relative difference {report.vs_deepfit.max_rel:.3g}",
        highlight=False,
    )
    quantized = report.quantized
    if quantized is None:
        return
    out.print(
        f"size: fp32 {quantized.fp32_bytes / 1024:,.1f} KiB, int8 "
        f"{quantized.int8_bytes / 1024:,.1f} KiB "
        f"({quantized.int8_bytes / quantized.fp32_bytes:.0%} of fp32)",
        highlight=False,
    )
    out.print(
        f"speed (onnxruntime, {report.rows} rows, best of 5): fp32 "
        f"{quantized.fp32_rows_per_second:,.0f} rows/s, int8 "
        f"{quantized.int8_rows_per_second:,.0f} rows/s",
        highlight=False,
    )
    if quantized.fp32_rmse is not None and quantized.int8_rmse is not None:
        out.print(
            f"accuracy: RMSE fp32 {quantized.fp32_rmse:.4g}, int8 {quantized.int8_rmse:.4g} "
            f"({quantized.int8_rmse - quantized.fp32_rmse:+.3g})",
            highlight=False,
        )
    else:
        out.print(
            f"accuracy: int8 differs from fp32 by {quantized.vs_fp32.mean_abs:.3g} on average, "
            f"{quantized.vs_fp32.max_abs:.3g} at most (no target column to compute RMSE)",
            highlight=False,
        )


@app.command()
@user_errors
def explain(
    model_path: ModelPath,
    data: LabelledData,
    target: ModelTarget = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="New or empty folder for the CSVs and PNGs.")
    ] = Path("explain"),
    top: Annotated[
        int, typer.Option(min=0, help="Partial-dependence plots for this many top features.")
    ] = 3,
    rows: Annotated[
        int, typer.Option(min=1, help="Rows to attribute (drawn with --seed) and average over.")
    ] = 200,
    repeats: Annotated[
        int, typer.Option(min=1, help="Shuffles per column for permutation importance.")
    ] = 5,
    seed: Annotated[int, typer.Option(help="Seed for the shuffles and the row sample.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Write into --out even if it holds files.")
    ] = False,
) -> None:
    """Which features matter to MODEL on labelled DATA, globally and per prediction.

    Prints permutation importance and mean |integrated gradients| per column, and writes
    importance.csv, attributions.csv, partial_dependence.csv and PNG charts into --out.
    """
    from deepfit.artifact import load
    from deepfit.data.io import read_table
    from deepfit.errors import DataError
    from deepfit.explain import explain as explain_model
    from deepfit.explain import explanation_notes, explanation_table
    from deepfit.explain.explanation import check_folder
    from deepfit.workflow import split_target

    check_folder(out_dir, overwrite=force)
    model = load(model_path)
    frame = read_table(data)
    column = target or model.target_name_
    if column not in frame.columns:
        raise DataError(
            f"{data} has no target column '{column}', which permutation importance needs to "
            "measure the error; add the labels, or name the target column with --target"
        )
    X, y = split_target(frame, column)
    result = explain_model(model, X, y, n_repeats=repeats, top=top, rows=rows, seed=seed)
    out.print(explanation_table(result))
    for line in explanation_notes(result):
        out.print(line, highlight=False)
    written = result.save(out_dir, overwrite=force)
    out.print(f"wrote {len(written)} files to {out_dir}", highlight=False)


@app.command()
@user_errors
def report(
    model_path: ModelPath,
    data: LabelledData,
    target: ModelTarget = None,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the HTML page.")
    ] = Path("report.html"),
    force: Annotated[
        bool, typer.Option("--force", help="Replace the report file if it exists.")
    ] = False,
) -> None:
    """Write one self-contained HTML page about MODEL on labelled DATA.

    Metrics beside the baselines, predicted vs actual, residuals, learning curves, feature
    importance and the settings, with every chart embedded; no scripts, nothing loaded.
    """
    from deepfit.artifact import load
    from deepfit.data.io import read_table
    from deepfit.errors import DataError
    from deepfit.files import check_writable
    from deepfit.report.report import write_report
    from deepfit.workflow import split_target

    check_writable(out_path, overwrite=force)
    model = load(model_path)
    frame = read_table(data)
    column = target or model.target_name_
    if column not in frame.columns:
        raise DataError(
            f"{data} has no target column '{column}', which the report needs to score the "
            "model; add the labels, or name the target column with --target"
        )
    X, y = split_target(frame, column)
    write_report(model, X, y, out_path, overwrite=force)
    out.print(f"wrote the report on {len(y)} rows to {out_path}", highlight=False)


@app.command()
@user_errors
def study(
    data: Annotated[Path, typer.Argument(help="CSV, TSV or Parquet file with the target.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict.")],
    vary: Annotated[
        list[str],
        typer.Option(
            help="FACTOR=V1,V2,... to vary alone (repeatable): learning_rate, width, depth, "
            "hidden_layers (256x256,...), activation, max_epochs, regularization "
            "(none,l1,l2,elastic_net,dropout), model, train_size, features (x1+x2, "
            "drop:colour), or any Regressor parameter."
        ),
    ],
    seeds: Annotated[str, typer.Option(help="Seeds, separated by commas.")] = "0,1,2",
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", help="NAME=VALUE held for every run (repeatable)."),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="New or empty folder for tables and plots.")
    ] = Path("study"),
    force: Annotated[
        bool, typer.Option("--force", help="Write into --out even if it holds files.")
    ] = False,
) -> None:
    """Vary one factor at a time over values and seeds; tables and a plot per factor.

    Example: deepfit study data.csv --target y --vary learning_rate=0.01,0.1,1 --set max_epochs=30
    """
    import shlex

    from deepfit.errors import ConfigError
    from deepfit.study import run_study
    from deepfit.study.factors import split_values
    from deepfit.study.table import rich_table

    def pairs(options: list[str], flag: str) -> list[tuple[str, str]]:
        found = []
        for option in options:
            name, equals, value = option.partition("=")
            if not equals or not name.strip() or not value.strip():
                raise ConfigError(
                    f"{flag} expects NAME=VALUE, e.g. learning_rate=0.01,0.1; got {option!r}"
                )
            found.append((name.strip(), value.strip()))
        return found

    try:
        seed_list = [int(seed) for seed in split_values(seeds)]
    except ValueError:
        raise ConfigError(
            f"--seeds expects whole numbers separated by commas; got {seeds!r}"
        ) from None
    factors = {name: split_values(values) for name, values in pairs(vary, "--vary")}
    held = dict(pairs(settings or [], "--set"))
    line = ["deepfit", "study", str(data), "--target", target, "--seeds", seeds]
    line += [part for option in vary for part in ("--vary", option)]
    line += [part for option in settings or [] for part in ("--set", option)]
    line += ["--out", str(out_dir), *(["--force"] if force else [])]

    def progress(factor: str, done: int, total: int, row: dict[str, Any]) -> None:
        note = f"  {row['note']}" if row["note"] else ""
        err.print(
            f"[{factor} {done}/{total}] {factor}={row['value']} seed={row['seed']}: "
            f"RMSE {row['rmse']:.4g}, R² {row['r2']:.3f}, {row['seconds']:.1f}s{note}",
            highlight=False,
            markup=False,
        )

    result = run_study(
        data,
        target=target,
        vary=factors,
        seeds=seed_list,
        settings=held,
        out=out_dir,
        overwrite=force,
        command=shlex.join(line),
        on_run=progress,
        on_factor=lambda factor: out.print(
            rich_table(factor.name, factor.summary, seeds=len(seed_list))
        ),
    )
    out.print(f"wrote {len(result.files)} files to {out_dir}", highlight=False)


@app.command()
@user_errors
def tune(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file with features and the target.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Name of the column to predict.")],
    trials: Annotated[
        int, typer.Option(min=1, help="Finished trials the study should have (a resumed one too).")
    ] = 50,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=1.0, help="Seconds this search may take.")
    ] = 600.0,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Study storage URL (PostgreSQL for several machines); default: "
            "sqlite tune.db beside --out."
        ),
    ] = None,
    study_name: Annotated[
        str | None, typer.Option(help="Study to create or continue; default: DATA's name-TARGET.")
    ] = None,
    cv: Annotated[
        int | None, typer.Option(min=2, help="Score by K-fold cross-validation on train+valid.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, the sampler and training.")] = 0,
    max_epochs: Annotated[int, typer.Option(min=1, help="Most epochs of each trial.")] = 200,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the best model.")
    ] = Path("best.deepfit"),
    force: Annotated[
        bool, typer.Option("--force", help="Replace the model and trials CSV if they exist.")
    ] = False,
) -> None:
    """Search the network's settings with Optuna (TPE, pruning) and save the best model.

    Trial 0 is the default settings; the study is stored (sqlite tune.db beside --out by
    default), so running the same command again continues it. Writes the best model to
    --out and every trial to OUT.trials.csv (same name, .trials.csv suffix).
    """
    from deepfit.files import check_writable
    from deepfit.tuning import tune as run_tune
    from deepfit.tuning.history import write_trials_csv
    from deepfit.tuning.table import importance_table, summary_lines, top_trials_table

    trials_csv = out_path.with_suffix(".trials.csv")
    check_writable(out_path, overwrite=force)
    check_writable(trials_csv, overwrite=force)
    if storage is None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{(out_path.parent / 'tune.db').resolve()}"
    name = study_name or f"{data.stem}-{target}"

    def show(trial: Any) -> None:
        err.print(_trial_line(trial), highlight=False)

    try:
        result = run_tune(
            data,
            target=target,
            trials=trials,
            time_limit=time_limit,
            storage=url,
            study_name=name,
            cv=cv,
            seed=seed,
            progress=show,
            max_epochs=max_epochs,
        )
    except KeyboardInterrupt:
        err.print(
            f"[red]error:[/red] interrupted (Ctrl-C); study '{name}' is kept in {url}: run the "
            "same command to continue it",
            highlight=False,
        )
        raise typer.Exit(130) from None
    summary = result.summary
    out.print(top_trials_table(result.study, label=summary["scoring"]))
    if summary["importances"]:
        out.print(importance_table(summary["importances"]))
    for line in summary_lines(summary):
        out.print(line, highlight=False)
    result.model.save(out_path, overwrite=force)
    write_trials_csv(result.study, trials_csv, overwrite=force)
    out.print(f"saved the best model to {out_path} and the trials to {trials_csv}", highlight=False)
    out.print(f"study '{name}' is stored in {summary['storage']}", highlight=False)


def _trial_line(trial: Any) -> str:
    """One finished trial, as ``deepfit tune`` prints it while searching."""
    seconds = trial.duration.total_seconds() if trial.duration is not None else 0.0
    if trial.state.name == "PRUNED":  # its value is a standardised loss, not an RMSE
        steps = trial.intermediate_values
        value = f" after {max(steps)} epoch(s)" if steps else ""
    else:
        value = "" if trial.value is None else f", RMSE {trial.value:.6g}"
    return f"trial {trial.number}: {trial.state.name.lower()}{value} ({seconds:.1f} s)"


def main() -> None:
    """Entry point of the ``deepfit`` console script."""
    app()


if __name__ == "__main__":
    main()
