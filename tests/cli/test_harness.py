"""What every command shares: one-line errors, Ctrl-C's status, tables whole when piped."""

from __future__ import annotations

import pytest
import typer
from rich.table import Table
from typer.testing import CliRunner

import deepfit.estimator
from deepfit.cli.harness import INTERRUPTED, say, user_errors
from deepfit.errors import DataError
from tests.support.cli import invoke


def test_a_wide_table_is_not_cut_when_the_output_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    table = Table(title="wide")
    for index in range(12):
        table.add_column(f"column number {index}")
    table.add_row(*[f"{4.762123456789e12 + index:.6e}" for index in range(12)])
    say(table)
    text = capsys.readouterr().out
    assert "4.762123e+12" in text
    assert "…" not in text
    assert all(f"column number {index}" in text for index in range(12))


def test_errors_are_one_line_and_ctrl_c_exits_130() -> None:
    app = typer.Typer()

    @app.command()
    @user_errors
    def run(what: str) -> None:
        """Fail in the way asked."""
        if what == "data":
            raise DataError("column 'x' holds text; fix it")
        if what == "ctrl-c":
            raise KeyboardInterrupt
        raise RuntimeError("boom\nsecond line")

    runner = CliRunner()
    data = runner.invoke(app, ["data"])
    assert (data.exit_code, data.stderr.strip()) == (1, "error: column 'x' holds text; fix it")
    stopped = runner.invoke(app, ["ctrl-c"])
    assert stopped.exit_code == INTERRUPTED == 130
    assert stopped.stderr.strip() == "error: interrupted (Ctrl-C)"
    unexpected = runner.invoke(app, ["other"])
    assert unexpected.exit_code == 1
    assert unexpected.stderr.count("\n") == 1
    assert "unexpected RuntimeError: boom (set DEEPFIT_DEBUG=1" in unexpected.stderr


@pytest.mark.parametrize(
    "command", [["info", "m.deepfit"], ["predict", "m.deepfit", "d.csv"], ["evaluate", "m", "d"]]
)
def test_ctrl_c_while_loading_exits_130_from_any_command(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    def interrupted(path: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(deepfit.estimator, "load", interrupted)
    result = invoke(*command)
    assert result.exit_code == 130, result.output
    assert "interrupted (Ctrl-C)" in result.stderr
