"""Helpers for tests that run the ``deepfit`` command in process."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from deepfit.cli import app


def invoke(*args: object) -> Result:
    """Run ``deepfit ARGS...`` with stdout and stderr kept apart."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """The command failed with one ``error:`` line holding every fragment, no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "unexpected" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
