"""Command-line options built from the estimators' parameter table, declared nowhere else.

:func:`estimator_options` gives a command one option per parameter of
:mod:`deepfit.estimator.params` (``--learning-rate``, ``--hidden-layers``, ...), with the
table's help, allowed values and default. An option left out is not passed, so the estimator
keeps its own default (``auto`` included); a value is parsed by the parameter's rule, and
``auto`` or ``none`` are accepted where the parameter allows them. The command receives what
was given as one ``params`` dict.

Example:
    >>> parse_option("hidden_layers", "256,128")
    (256, 128)
    >>> parse_option("time_limit", "none") is None
    True
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from deepfit.errors import ConfigError
from deepfit.estimator.params import AUTO, Param, all_params
from deepfit.estimator.rules import Boolean, Options

F = TypeVar("F", bound=Callable[..., Any])


def _on_the_command_line() -> dict[str, list[Param]]:
    """Each parameter with an option, with its per-task variants (e.g. interval_method)."""
    merged: dict[str, list[Param]] = {}
    for spec in all_params():
        if spec.option:
            merged.setdefault(spec.name, []).append(spec)
    return merged


OPTIONS = _on_the_command_line()


def default_text(spec: Param) -> str:
    """How ``--help`` shows a parameter's default."""
    if spec.default == AUTO and spec.name not in ("model", "batch_size"):
        fallback = spec.fallback
        if isinstance(fallback, tuple | list):
            fallback = ",".join(str(item) for item in fallback)
        shown = "none" if fallback is None else fallback
        return f"auto (model auto decides; otherwise {shown})"
    if spec.default is None:
        return "none"
    return str(spec.default).lower() if isinstance(spec.default, bool) else str(spec.default)


def help_text(specs: list[Param]) -> str:
    """The option's help: what it does, what it allows and its default, per task if they
    differ."""
    if len(specs) == 1:
        spec = specs[0]
        return f"{spec.help} Allowed: {spec.allowed_in_shell}. Default: {default_text(spec)}."
    return " ".join(
        f"{'/'.join(spec.tasks)}: {spec.help} Default: {default_text(spec)}." for spec in specs
    )


def parse_option(name: str, text: str) -> Any:
    """The value of the option of parameter ``name`` given as ``text``, or a ConfigError."""
    specs = OPTIONS[name]
    spec = specs[0]
    if any(s.auto for s in specs) and text == AUTO:
        return AUTO
    if any(s.nullable for s in specs) and text.lower() == "none":
        return None
    for variant in specs:
        try:
            return variant.rule.parse(text)
        except ValueError:
            continue
    allowed = dict.fromkeys(variant.allowed_in_shell for variant in specs)
    if len(allowed) > 1:  # e.g. --model: table networks, or forecasting networks
        allowed = dict.fromkeys(f"{v.allowed_in_shell} ({'/'.join(v.tasks)})" for v in specs)
    raise ConfigError(f"{spec.option} must be {' or '.join(allowed)}, however: {text!r}")


def _parameter(name: str, specs: list[Param]) -> inspect.Parameter:
    spec = specs[0]
    names = (spec.option, *spec.aliases)
    help_ = help_text(specs)
    annotation: Any
    if isinstance(spec.rule, Boolean):
        flag = f"{spec.option}/--no-{spec.option.removeprefix('--')}"
        annotation = Annotated[bool | None, typer.Option(flag, help=help_, show_default=False)]
    elif isinstance(spec.rule, Options):
        annotation = Annotated[
            list[str] | None,
            typer.Option(*names, help=help_, metavar="KEY=VALUE", show_default=False),
        ]
    else:
        annotation = Annotated[
            str | None, typer.Option(*names, help=help_, metavar="VALUE", show_default=False)
        ]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


def given_params(values: dict[str, Any]) -> dict[str, Any]:
    """The estimator parameters among a command's arguments, parsed; unset ones left out."""
    params: dict[str, Any] = {}
    for name in OPTIONS:
        value = values.pop(name, None)
        if value is None or value == []:
            continue
        if isinstance(value, bool):
            params[name] = value
        elif isinstance(value, list):
            merged: dict[str, Any] = {}
            for text in value:
                merged |= parse_option(name, text)
            params[name] = merged
        else:
            params[name] = parse_option(name, value)
    return params


def estimator_options(command: F) -> F:
    """Give ``command`` an option per estimator parameter; it receives them as ``params``."""
    original = inspect.signature(command, eval_str=True)
    kept = [p for p in original.parameters.values() if p.name != "params"]
    added = [_parameter(name, specs) for name, specs in OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        params = given_params(kwargs)
        return command(*args, params=params, **kwargs)

    parameters = [*kept, *added]
    wrapper.__signature__ = original.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]


ENCODING_HELP = (
    "The text encoding of CSV/TSV files read, e.g. latin-1, cp1252 or utf-16. Default: the "
    "encoding a byte order mark names (UTF-8 or UTF-16), else UTF-8."
)
Encoding = Annotated[
    str | None, typer.Option("--encoding", help=ENCODING_HELP, metavar="NAME", show_default=False)
]


def encoding_option(command: F) -> F:
    """Give ``command`` an ``--encoding`` option: every text table it reads (the data, a
    validation file, streamed pieces) is read in that encoding
    (:func:`deepfit.data.io.text_encoding`)."""
    original = inspect.signature(command, eval_str=True)
    added = inspect.Parameter(
        "encoding", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Encoding
    )

    @functools.wraps(command)
    def wrapper(*args: Any, encoding: str | None = None, **kwargs: Any) -> Any:
        from deepfit.data.io import text_encoding

        with text_encoding(encoding):
            return command(*args, **kwargs)

    parameters = [*original.parameters.values(), added]
    wrapper.__signature__ = original.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]


def task_params(
    params: dict[str, Any], task: str, seed: int | None, *, foreign: str
) -> dict[str, Any]:
    """The options among ``params`` that the ``task`` estimator takes, with ``seed`` as its
    ``random_state``; a ConfigError for one it does not take, worded by ``foreign`` (a
    template of ``{option}`` and ``{own}``, the options the estimator does take)."""
    from deepfit.estimator.params import params_for

    table = params_for(task)
    given = [name for name in params if name not in table]
    if given:
        own = ", ".join(spec.option for spec in table.values() if spec.option)
        raise ConfigError(foreign.format(option=option_of(given[0]), own=own))
    return params if seed is None else {**params, "random_state": seed}


def refuse_options(params: dict[str, Any], names: tuple[str, ...], message: str) -> None:
    """A ConfigError (``message``, a template of ``{option}``) for the first of ``names``
    given in ``params``: options another kind of run takes."""
    given = [name for name in names if name in params]
    if given:
        raise ConfigError(message.format(option=option_of(given[0])))


def option_of(name: str) -> str:
    """The command-line option of parameter ``name``, e.g. ``--image-size``."""
    return "--" + name.replace("_", "-")
