"""What every command shares: where it prints, and how it fails.

* Every error a user can cause is one line on standard error, ``error: ...``, exit status 1;
  anything unexpected is one line too (``DEEPFIT_DEBUG=1`` shows the traceback).
* Ctrl-C exits with status 130 from every command (``train`` first saves what it has).
* deepfit's warnings are printed as ``note:`` lines as they happen; other libraries' are not.
* Tables are printed at their full width when the output is not a terminal, so a piped
  table never cuts a number.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console, RenderableType

from deepfit.errors import DeepfitError, DeepfitWarning

F = TypeVar("F", bound=Callable[..., Any])
INTERRUPTED = 130
PIPE_WIDTH = 10_000  # wide enough that no table wraps or cuts a cell


def console(*, stderr: bool = False) -> Console:
    """A console on standard output (or error) as it is now: full width unless a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPE_WIDTH
    return Console(file=stream, soft_wrap=True, width=width, highlight=False)


def another_process() -> bool:
    """Whether this is one of several processes training together (under ``torchrun``), but
    not the first: only rank 0 prints results and progress, and writes files."""
    return os.environ.get("RANK", "0") != "0"


def say(*items: RenderableType) -> None:
    """Print results (text or tables) on standard output (rank 0's only, under torchrun)."""
    if another_process():
        return
    output = console()
    for item in items:
        if isinstance(item, str):
            output.print(item, markup=False)
        else:
            output.print(item)


def tell(text: str) -> None:
    """Print progress or a remark on standard error (rank 0's only, under torchrun)."""
    if not another_process():
        console(stderr=True).print(text, markup=False)


def fail(message: str, status: int = 1) -> None:
    """Print ``message`` as the one-line error and exit with ``status``."""
    console(stderr=True).print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(status)


def user_errors(command: F) -> F:
    """Turn deepfit's errors (and anything unexpected) into one line and an exit status."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with notes():
                return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except DeepfitError as error:
            fail(str(error))
        except KeyboardInterrupt:
            fail("interrupted (Ctrl-C)", INTERRUPTED)
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
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
def notes() -> Iterator[None]:
    """Print deepfit's own warnings as notes when they happen; keep third-party ones out."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, DeepfitWarning):
            console(stderr=True).print(f"[yellow]note:[/yellow] {message}", highlight=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", DeepfitWarning)
        warnings.showwarning = show
        yield


def split_names(values: list[str] | None) -> list[str]:
    """``["a,b", "c"]`` as ``["a", "b", "c"]``: options that take names, repeated or joined."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]
