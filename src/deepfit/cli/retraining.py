"""``deepfit retrain``: a saved table model (the champion) against one retrained on new data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from deepfit.cli.common import Force, Json, LabelledData, ModelPath, ModelTarget
from deepfit.cli.harness import say, tell, user_errors


@user_errors
def retrain(
    model_path: ModelPath,
    data: LabelledData,
    out_path: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to write the challenger, if it is written."),
    ],
    target: ModelTarget = None,
    holdout: Annotated[
        float,
        typer.Option(
            help="Share of DATA held out (seeded; at least 10 rows) to score both models on; "
            "neither trains on it."
        ),
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed for the holdout and the training.")] = 0,
    time_limit: Annotated[
        str | None,
        typer.Option(
            "--time-limit",
            metavar="SECONDS",
            help="Seconds of training, or none for no limit [MODEL's own].",
        ),
    ] = None,
    max_epochs: Annotated[
        int | None, typer.Option(min=1, help="Most epochs of training [MODEL's own].")
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Train afresh with MODEL's settings (preprocessing refitted) even when "
            "fine-tuning MODEL could start it.",
        ),
    ] = False,
    keep_loser: Annotated[
        bool,
        typer.Option(
            "--keep-loser", help="Write the challenger to --out even when the champion wins."
        ),
    ] = False,
    force: Force = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Json = False,
) -> None:
    """Retrain MODEL on new labelled DATA and keep whichever of the two scores better.

    A seeded --holdout share of DATA is set aside. The challenger is MODEL fine-tuned on the
    rest (its preprocessing, target encoding and architecture kept), or, when the columns
    changed (added, removed, another role), when DATA has labels MODEL never saw, or with
    --fresh, a model trained afresh with MODEL's settings. Both are scored on the held-out rows
    by the task's metric (RMSE; a classifier's log-loss). The challenger is written to --out
    only when it scores better (or with --keep-loser); otherwise nothing is written.
    --force replaces an existing --out. The exit status is 0 whichever model wins.
    """
    from deepfit.cli.options import parse_option
    from deepfit.data.io import read_table
    from deepfit.estimator.retrain import FINE_TUNED
    from deepfit.estimator.retrain import retrain as run_retrain
    from deepfit.files import check_writable

    check_writable(out_path, overwrite=force)
    overrides: dict[str, Any] = {"verbose": 0 if quiet or as_json else 1}
    if time_limit is not None:
        overrides["time_limit"] = parse_option("time_limit", time_limit)
    if max_epochs is not None:
        overrides["max_epochs"] = max_epochs
    frame = read_table(data)
    result = run_retrain(
        model_path, frame, target=target, holdout=holdout, seed=seed, fresh=fresh, **overrides
    )
    written = result.winner == "challenger" or keep_loser
    document = result.document() | {"written": str(out_path) if written else None}
    if result.path == FINE_TUNED:
        line = f"retrain: fine-tuned {model_path.name}: {result.reason}"
    else:
        line = f"retrain: trained afresh with {model_path.name}'s settings: {result.reason}"
    for note in result.notes:
        tell(f"note: {note}")
    if written:
        result.challenger.save(out_path, overwrite=force)
    if as_json:
        say(json.dumps(document, indent=1))
        return
    say(
        line,
        f"rows: {result.train_rows} to train, {result.holdout_rows} held out",
        result.line(),
    )
    if result.winner == "challenger":
        say(f"saved the challenger to {out_path}")
    elif keep_loser:
        say(f"saved the challenger to {out_path} anyway (--keep-loser)")
    else:
        say(
            f"the champion {model_path.name} is kept; nothing was written "
            "(--keep-loser writes the challenger anyway)"
        )
