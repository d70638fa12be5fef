"""A study's files: per factor a markdown and CSV summary, the runs CSV and a PNG; an index."""

from __future__ import annotations

import re
from pathlib import Path

from deepfit.explain.plots import png_bytes
from deepfit.files import atomic_writer, check_output_folder
from deepfit.study.plots import factor_figure
from deepfit.study.result import FactorResult, StudyResult


def check_folder(folder: Path, *, overwrite: bool) -> None:
    """Refuse a path that is a file, or a non-empty folder unless ``overwrite``."""
    check_output_folder(folder, overwrite=overwrite, what="the study")


def stem(name: str) -> str:
    """A safe file name stem for factor ``name``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "factor"


def write_factor(factor: FactorResult, folder: Path, *, target: str, overwrite: bool) -> list[Path]:
    """``<factor>.md``, ``<factor>.csv``, ``<factor>_runs.csv`` and ``<factor>.png``."""
    base = stem(factor.name)
    texts = {
        folder / f"{base}.md": f"# {factor.name}\n\n{factor.markdown}",
        folder / f"{base}.csv": factor.summary.to_csv(index=False),
        folder / f"{base}_runs.csv": factor.runs.to_csv(index=False),
    }
    written = []
    for path, text in texts.items():
        with atomic_writer(path, overwrite=overwrite, mode="w") as handle:
            handle.write(text)
        written.append(path)
    image = folder / f"{base}.png"
    figure = factor_figure(
        factor.name, factor.values, factor.summary, target=target, task=factor.task
    )
    with atomic_writer(image, overwrite=overwrite) as handle:
        handle.write(png_bytes(figure))
    written.append(image)
    return written


def index_markdown(result: StudyResult) -> str:
    """The README: the command, the held settings, the seeds, and every factor's table."""
    lines = ["# deepfit study", ""]
    if result.command:
        lines += ["```", result.command, "```", ""]
    held = ", ".join(f"`{name}={value}`" for name, value in result.held.items()) or "defaults"
    lines += [
        f"Target `{result.target}` ({result.task}); test-split metrics, mean ± std over seeds "
        f"{', '.join(map(str, result.seeds))}; each factor varied alone, held settings: {held}.",
        "",
    ]
    for name, factor in result.factors.items():
        base = stem(name)
        lines += [
            f"## {name}",
            "",
            factor.markdown,
            f"Files: [{base}.csv]({base}.csv), [{base}_runs.csv]({base}_runs.csv)",
            "",
            f"![{name}]({base}.png)",
            "",
        ]
    return "\n".join(lines)


def write_index(result: StudyResult, folder: Path, *, overwrite: bool) -> Path:
    path = folder / "README.md"
    with atomic_writer(path, overwrite=overwrite, mode="w") as handle:
        handle.write(index_markdown(result))
    return path
