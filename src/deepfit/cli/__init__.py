"""The ``deepfit`` command: one module per group of commands, one harness for all of them.

* :mod:`~deepfit.cli.training`: ``train``, ``demo``;
* :mod:`~deepfit.cli.predict`: ``predict``, ``evaluate``; :mod:`~deepfit.cli.info`: ``info``;
* :mod:`~deepfit.cli.retraining`: ``retrain``;
* :mod:`~deepfit.cli.forecasting`: ``backtest``, and ``train --time`` and the rest for series;
* :mod:`~deepfit.cli.explaining`: ``explain``, ``report``;
* :mod:`~deepfit.cli.monitoring`: ``monitor``;
* :mod:`~deepfit.cli.search`: ``tune``, ``study``;
* :mod:`~deepfit.cli.serving`: ``serve``, ``export``;
* :mod:`~deepfit.cli.harness`: one-line errors, Ctrl-C, notes, output;
  :mod:`~deepfit.cli.options`: the estimator's options, from its parameter table.
"""

from __future__ import annotations

from typing import Annotated

import typer

from deepfit.cli import explaining, forecasting, info, predict, search, serving, training
from deepfit.cli.harness import say
from deepfit.cli.monitoring import monitor
from deepfit.cli.retraining import retrain

app = typer.Typer(
    help="Deep learning for tables and series: train, evaluate, predict, forecast, explain, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in (
    training.train,
    predict.predict,
    predict.evaluate,
    retrain,
    forecasting.backtest,
    info.info,
    explaining.report,
    explaining.explain,
    monitor,
    search.tune,
    search.study,
    serving.serve,
    serving.export,
    training.demo,
):
    app.command()(command)


def _show_version(value: bool) -> None:
    if value:
        from deepfit.version import __version__

        say(f"deepfit {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Deep learning for tables: train, evaluate, predict, explain, serve."""


def main() -> None:
    """Entry point of the ``deepfit`` console script."""
    app()


__all__ = ["app", "main"]
