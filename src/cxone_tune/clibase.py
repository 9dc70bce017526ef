"""The Typer command classes ``cli.py``'s app is built on: quick to start, help the way Unix tools show it,
completion for the shell named.

- Start-up: the app's commands are built only when looked up (:func:`command_tree`: a run builds one of them); a
  Tab press and ``--help`` load neither pydantic (Typer coerces every parameter through it,
  defaults included: :class:`_DefaultsFirst`) nor markdown-it and pygments (Typer's help renderer imports them
  unused here: :func:`load_help_renderer`). ``tests/test_startup.py`` counts the modules.
- Help: no value shown for a flag, a ``metavar`` for every other option and what each argument takes
  (:func:`_metavars`), never Typer's ``<bool>`` or ``<float>``.
- Completion: ``--show-completion [SHELL]`` and ``--install-completion [SHELL]`` with an optional shell
  (:meth:`Group.parse_args`, :func:`show_or_install_completion`).

It leans on Typer internals (``_runtime_param``, ``typer.rich_utils``' imports); each use falls back to
Typer's own behaviour when they change, and the start-up test notices.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import typer
from typer._completion_classes import completion_init
from typer.core import TyperCommand, TyperGroup


class _DefaultsFirst:
    """A parameter's coercion that hands a value left at its default (or ``None``) back as is, and builds
    Typer's own coercion (a pydantic ``TypeAdapter``) only for a value the command line actually gave.

    Typer coerces every non-flag parameter it processes through pydantic, defaults included, so without this
    ``run-once --help`` and every Tab press would import pydantic (about a third of their time) to check
    values written in cli.py. A given value still goes through Typer's coercion, with its messages."""

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None or (type(value) is type(param.default) and value == param.default):
            return value
        from typer._coercion import build_runtime_param

        param._runtime_param = build_runtime_param(param.type_descriptor)
        return param._runtime_param.coerce(value, param=param, ctx=ctx)


def _defaults_first(params: list[Any]) -> list[Any]:
    """``params`` (every parameter, the help and completion options too), each coerced defaults first."""
    for param in params:
        # Single values only (a repeatable option's empty tuple is Typer's to convert); when Typer's internals
        # change, this does nothing and tests/test_startup.py notices pydantic on the Tab path.
        if getattr(param, "_runtime_param", False) is None and param.nargs == 1 and not param.multiple:
            param._runtime_param = _DefaultsFirst()
    return params


class _Deferred(type):
    """A stand-in class for ``name`` of ``module`` that imports the module when it is first used."""

    def __new__(mcs, module: str, name: str) -> _Deferred:
        return super().__new__(mcs, name, (), {"_home": (module, name)})

    def __init__(cls, module: str, name: str) -> None:
        super().__init__(name, (), {})

    def _real(cls) -> Any:
        import importlib

        module, name = cls.__dict__["_home"]
        return getattr(importlib.import_module(module), name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, attribute: str) -> Any:
        return getattr(cls._real(), attribute)


def load_help_renderer() -> None:
    """Import Typer's rich help renderer without ``rich.markdown`` and ``rich.traceback``.

    ``typer.rich_utils`` imports both at its top but uses them only for ``rich_markup_mode="markdown"`` and
    for pretty tracebacks, both off here; they are a third of what ``--help`` costs (markdown-it, pygments).
    While it is imported, the two modules are stand-ins whose classes import the real module if ever used;
    then they leave ``sys.modules``, so any later import gets the real modules."""
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins = {}
    for module, name in (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback")):
        if module not in sys.modules:
            stand_in = types.ModuleType(module)
            setattr(stand_in, name, _Deferred(module, name))
            stand_ins[module] = stand_in
    sys.modules.update(stand_ins)
    try:
        import typer.rich_utils  # noqa: F401
    finally:
        for module, stand_in in stand_ins.items():
            if sys.modules.get(module) is stand_in:
                del sys.modules[module]


_TYPE_METAVARS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "file": "FILE"}


def _type_label(param: Any, ctx: Any) -> str:
    """What a parameter takes, the Unix way: ``INTEGER``, ``NUMBER``, ``PATH``, ``[a|b]``, from Typer's ``<int>``."""
    label = param.display_type(ctx).strip("<>").removesuffix(" range")
    label = label.removeprefix("list[").removesuffix("]")
    return f"[{label}]" if "|" in label else _TYPE_METAVARS.get(label, label.upper())


def _metavars(params: list[Any], ctx: Any) -> None:
    """Help shows what a parameter takes the way Unix tools do: nothing for a flag (``--json``, ``--help``,
    ``-v``), else its ``metavar`` (``URL``, ``DIR``, ``N``), else one derived from the type (``INTEGER``,
    ``[a|b]``), never Typer's ``<bool>``/``<int>``. An argument shows its metavar as its name (``LIMIT``), then
    what it takes (``NUMBER``, ``PATH``, ``[service|timer|failure]``), not Typer's ``<float>``."""
    for param in params:
        kind = getattr(param, "param_type_name", "")
        if kind == "argument":
            label = _type_label(param, ctx)
            # Typer asks the argument itself for its type's display: this one answers for this help only.
            param.display_type_rich = lambda ctx, label=label: label
        elif kind != "option":
            continue
        elif param.is_flag or param.count:
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = _type_label(param, ctx)


class Command(TyperCommand):
    """Every command of the app (``cls=`` of each ``app.command``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _defaults_first(super().get_params(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        load_help_renderer()
        _metavars(self.get_params(ctx), ctx)
        super().format_help(ctx, formatter)


SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")  # Typer's completion scripts
completion_init()  # Typer's completion classes (its add_completion would do it; the options are ours)
_SHELL_OPTIONS = ("--install-completion", "--show-completion")


class _Commands(MutableMapping[str, Any]):
    """The app's commands by name, in the order they were declared, each built when it is first looked up.

    Typer builds every command of an app (their parameters, from each function's signature) before it parses
    anything; a run needs one. Names are listed without building; ``--help`` and Tab completion look each one
    up, and so build them all, as before."""

    def __init__(self, builders: dict[str, Callable[[], Any]]) -> None:
        self._builders = builders
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._builders[name]()  # KeyError for no such command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._builders[name] = lambda: command
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._builders[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    @property
    def built(self) -> list[str]:
        return list(self._built)


def command_tree(app: typer.Typer) -> Any:
    """What ``typer.main.get_command(app)`` builds (the app's :class:`Group` and its commands), with each command
    built only when it is looked up (:class:`_Commands`): a run builds the group's options and its one command.

    Built with Typer's own functions; if they change, this is Typer's ``get_command`` (every command at once)."""
    from typer import main

    registered = app.registered_commands
    try:
        app.registered_commands = []  # the group alone: its callback's options, no command yet
        try:
            group = main.get_group(app)
        finally:
            app.registered_commands = registered

        def builder(info: Any) -> Callable[[], Any]:
            return lambda: main.get_command_from_info(
                info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
            )

        names = [info.name or main.get_command_name(getattr(info.callback, "__name__", "")) for info in registered]
        group.commands = _Commands({name: builder(info) for name, info in zip(names, registered, strict=True)})
    except (AttributeError, TypeError):  # Typer's internals changed: build it Typer's way
        return main.get_command(app)
    return group


class Group(TyperGroup):
    """The app itself: its options are processed before every command, its help and Tab completion."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names, in their order, without building the commands (_Commands)

    def get_params(self, ctx: Any) -> list[Any]:
        return _defaults_first(super().get_params(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        load_help_renderer()
        _metavars(self.get_params(ctx), ctx)
        super().format_help(ctx, formatter)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """``--show-completion [SHELL]`` and ``--install-completion [SHELL]``: the shell is optional (the one
        running the tool, when not given), which click's options cannot say, so it is joined here as
        ``--show-completion=zsh`` (or ``--show-completion=`` for "detect it")."""
        joined: list[str] = []
        rest = list(args)
        while rest:
            arg = rest.pop(0)
            if arg == "--" or arg in self.commands:  # the command and its own arguments: none of ours
                joined += [arg, *rest]
                break
            if arg in _SHELL_OPTIONS:  # the next word is its shell unless it is an option or the command
                given = rest and not rest[0].startswith("-") and rest[0] not in self.commands
                arg += "=" + (rest.pop(0) if given else "")
            joined.append(arg)
        return super().parse_args(ctx, joined)


def shell_names(incomplete: str) -> list[str]:
    """Tab completion of SHELL after --show-completion and --install-completion."""
    return [shell for shell in SHELLS if shell.startswith(incomplete)]


def show_or_install_completion(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> None:
    """Typer's completion script for the shell named (see Group.parse_args), or the one running the tool."""
    if value is None or ctx.resilient_parsing:
        return
    if value and value not in SHELLS:
        raise typer.BadParameter(f"{value!r} is not a shell; expected one of {', '.join(SHELLS)}")
    from typer.completion import install_callback, show_callback

    callback = show_callback if param.name == "show_completion" else install_callback
    callback(ctx, param, value or True)  # True: Typer detects the shell
