"""``deepfit explain`` and ``deepfit report``: why a model predicts what it does, how well.

Both take a table model on a labelled table, or an image model on a folder of images with
``--labels`` (see :mod:`deepfit.explain.image` and :mod:`deepfit.report.image`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from deepfit.cli.common import ModelPath, ModelTarget, labelled_rows
from deepfit.cli.harness import say, tell, user_errors
from deepfit.cli.images import LabelsFile
from deepfit.errors import ConfigError

if TYPE_CHECKING:
    from deepfit.estimator.image_regressor import ImageRegressor
    from deepfit.kinds.image.source import OpenedImages

LabelledData = Annotated[
    Path,
    typer.Argument(
        help="Labelled CSV, TSV or Parquet file (features and target); for an image model, a "
        "folder of images (their targets in --labels)."
    ),
]
TOP, ROWS, REPEATS = 3, 200, 5  # explain's defaults for a table model
IMAGES = 8  # images an image model's explain attributes unless --rows says otherwise


def _is_image_model(path: Path) -> bool:
    """Whether the model file holds an image model (read from its metadata only)."""
    from deepfit.artifact import model_kind

    return model_kind(path) == "image"


def _labelled_images(
    model: ImageRegressor, data: Path, labels: Path | None, target: str | None, use: str
) -> OpenedImages:
    """The images --labels names in the folder DATA, decoded as ``model`` reads them."""
    from deepfit.kinds.image.files import read_labelled

    name = target or model.check_fitted().preparer.target_name
    if labels is None:
        raise ConfigError(
            f"{use} an image model needs --labels: a table with a 'file' column of paths "
            f"relative to {data} and the target '{name}'"
        )
    return model.open_for_prediction(read_labelled(data, labels, target=name))


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
    ] = TOP,
    rows: Annotated[
        int | None,
        typer.Option(
            min=1,
            show_default=False,
            help=f"Rows to attribute (drawn with --seed) and average over [{ROWS}]; for an "
            f"image model, images to attribute [{IMAGES}, at most 64].",
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option(min=1, help="Shuffles per column for permutation importance.")
    ] = REPEATS,
    seed: Annotated[int, typer.Option(help="Seed for the shuffles and the row sample.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Write into --out even if it holds files.")
    ] = False,
    labels: LabelsFile = None,
) -> None:
    """Which features matter to MODEL on labelled DATA, globally and per prediction.

    Prints permutation importance and mean |integrated gradients| per column, and writes
    importance.csv, attributions.csv, partial_dependence.csv and PNG charts into --out.

    For an image model (DATA a folder, --labels its targets): integrated gradients of --rows
    images, one PNG each (the image under a heat map of |attribution|) and saliency.csv (the
    share of each image's attribution in its centre and on its border).
    """
    from deepfit.estimator import load_estimator
    from deepfit.explain import explain as explain_model
    from deepfit.explain import explanation_notes, explanation_table
    from deepfit.explain.explanation import check_folder

    check_folder(out_dir, overwrite=force)
    if _is_image_model(model_path):
        for flag, value, default in (("--top", top, TOP), ("--repeats", repeats, REPEATS)):
            if value != default:
                raise ConfigError(
                    f"{flag} does not apply to an image model; --rows sets how many images "
                    "to explain"
                )
        _explain_images(
            model_path, data, labels=labels, target=target, out_dir=out_dir,
            count=IMAGES if rows is None else rows, seed=seed, force=force,
        )  # fmt: skip
        return
    if labels is not None:
        raise ConfigError("--labels applies to image models only (DATA a folder of images)")
    model = load_estimator(model_path, "explain")
    X, y = labelled_rows(
        model, data, target, needs="permutation importance needs to measure the error"
    )
    result = explain_model(
        model, X, y, n_repeats=repeats, top=top, rows=ROWS if rows is None else rows, seed=seed
    )
    say(explanation_table(result))
    for line in explanation_notes(result):
        say(line)
    written = result.save(out_dir, overwrite=force)
    say(f"wrote {len(written)} files to {out_dir}")


def _explain_images(
    model_path: Path,
    data: Path,
    *,
    labels: Path | None,
    target: str | None,
    out_dir: Path,
    count: int,
    seed: int,
    force: bool,
) -> None:
    import numpy as np
    import pandas as pd
    from rich.table import Table

    from deepfit.estimator.image_regressor import ImageRegressor
    from deepfit.explain.image import CENTRE_AREA, MAX_COUNT, SALIENCY, explain_images, short_number

    model = ImageRegressor.load(model_path)
    opened = _labelled_images(model, data, labels, target, "explaining")
    if count > MAX_COUNT and len(opened.names) > MAX_COUNT:
        tell(f"note: explaining {MAX_COUNT} images, the most --rows takes for an image model")
    written = explain_images(model, opened, out_dir, count=count, seed=seed, overwrite=force)
    saliency = pd.read_csv(out_dir / SALIENCY)
    shown = Table(title=f"integrated gradients of {len(saliency)} of {len(opened.names)} images")
    shown.add_column("file")
    for column in ("true", "predicted", "centre share"):
        shown.add_column(column, justify="right")
    for record in saliency.to_dict("records"):
        centre = float(record["centre_share"])
        shown.add_row(
            str(record["file"]),
            short_number(float(record["true"])),
            short_number(float(record["predicted"])),
            "-" if np.isnan(centre) else f"{centre:.0%}",
        )
    say(shown)
    say(
        f"centre share: the part of |attribution| in the middle half of each side "
        f"({CENTRE_AREA:.0%} of the pixels); above {CENTRE_AREA:.0%}, the model looks at the "
        "middle more than the border"
    )
    say(f"wrote {len(written)} files to {out_dir}")


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
    labels: LabelsFile = None,
) -> None:
    """Write one self-contained HTML page about MODEL on labelled DATA.

    Metrics beside the baselines, the task's plots (predicted vs actual and residuals; or the
    confusion matrix, reliability and per-class metrics), learning curves, feature importance
    and the settings, with every chart embedded; no scripts, nothing loaded.

    For an image model (DATA a folder, --labels its targets): metrics beside the target's
    mean, predicted vs actual, the images with the largest errors, learning curves, settings.
    """
    from deepfit.estimator import load_estimator
    from deepfit.files import check_writable
    from deepfit.report.report import write_report

    check_writable(out_path, overwrite=force)
    if _is_image_model(model_path):
        from deepfit.estimator.image_regressor import ImageRegressor
        from deepfit.report.image import write_image_report

        image_model = ImageRegressor.load(model_path)
        opened = _labelled_images(image_model, data, labels, target, "a report on")
        write_image_report(image_model, opened, out_path, overwrite=force)
        say(f"wrote the report on {len(opened.names)} images to {out_path}")
        return
    if labels is not None:
        raise ConfigError("--labels applies to image models only (DATA a folder of images)")
    model = load_estimator(model_path, "report")
    X, y = labelled_rows(model, data, target, needs="the report needs to score the model")
    write_report(model, X, y, out_path, overwrite=force)
    say(f"wrote the report on {len(y)} rows to {out_path}")
