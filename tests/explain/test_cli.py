"""``deepfit explain MODEL DATA`` end to end, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import assert_one_line_error, invoke
from tests.support.tables import make_table


def test_explain_prints_the_table_and_writes_the_files(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = files
    out = tmp_path / "why"
    options = ["--out", out, "--rows", 30, "--repeats", 2, "--top", 1]
    result = invoke("explain", model, data, *options)
    assert result.exit_code == 0, result.output
    for name in ("feature", "x1", "x2", "colour", "flag", "day", "categorical", "datetime"):
        assert name in result.stdout
    assert "permutation" in result.stdout
    assert "|IG|" in result.stdout
    written = sorted(path.name for path in out.iterdir())
    assert written == sorted(
        [
            "importance.csv",
            "attributions.csv",
            "partial_dependence.csv",
            "importance.png",
            "attributions.png",
            "pdp_x1.png",
        ]
    )
    before = (out / "importance.csv").read_bytes()

    again = invoke("explain", model, data, *options)
    assert_one_line_error(again, "--force", str(out))
    assert (out / "importance.csv").read_bytes() == before

    forced = invoke("explain", model, data, *options, "--seed", 1, "--force")
    assert forced.exit_code == 0, forced.output
    assert (out / "importance.csv").read_bytes() != before  # other shuffles: new numbers


def test_data_without_the_target_is_a_one_line_error(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = files
    unlabelled = tmp_path / "unlabelled.csv"
    make_table(n_rows=30).drop(columns="y").to_csv(unlabelled, index=False)
    out = tmp_path / "none"
    assert_one_line_error(
        invoke("explain", model, unlabelled, "--out", out), "no target column 'y'", "--target"
    )
    assert_one_line_error(
        invoke("explain", model, data, "--out", out, "--target", "price"), "'price'"
    )
    assert not out.exists()


def test_bad_options_are_refused(files: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = files
    result = invoke("explain", model, data, "--out", tmp_path / "o", "--rows", 0)
    assert result.exit_code == 2  # Typer's usage error for an out-of-range option
    assert not (tmp_path / "o").exists()
    missing = invoke("explain", tmp_path / "missing.deepfit", data, "--out", tmp_path / "o")
    assert_one_line_error(missing, "missing.deepfit")
