"""API profiles behind one interface, and the registry the rest of the tool asks about them.

A profile is one class (a subclass of :class:`Profile`) that carries its own facts: its name, what it steers,
which settings it needs, how it is chosen. Adding a profile means adding a module and one line in
``_BUILT_IN`` below (or calling :func:`register` with the class). Built-in profiles are imported only when
asked for, so listing the names imports no HTTP stack.
"""

from __future__ import annotations

import importlib

from cxone_tune.profiles.base import Agent, AgentChanges, AgentSnapshot, LoginInfo, Profile, Target, TargetRef
from cxone_tune.settings import Settings

__all__ = [
    "Agent",
    "AgentChanges",
    "AgentSnapshot",
    "LoginInfo",
    "Profile",
    "Target",
    "TargetRef",
    "chosen_class",
    "names",
    "profile_class",
    "register",
]

# name -> "module:Class"; in this order the profiles are considered when CXONE_API is unset.
_BUILT_IN = {
    "v2": "cxone_tune.profiles.v2:V2Profile",
    "acd": "cxone_tune.profiles.acd:AcdProfile",
}
_registry: dict[str, type[Profile]] = {}
_extra: list[str] = []  # names registered beyond the built-ins, in order


def register(cls: type[Profile]) -> type[Profile]:
    """Add (or replace) a profile; usable as a class decorator."""
    if cls.name not in _BUILT_IN and cls.name not in _extra:
        _extra.append(cls.name)
    _registry[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Forget a profile registered with :func:`register` (built-ins come back on the next lookup)."""
    _registry.pop(name, None)
    if name in _extra:
        _extra.remove(name)


def names() -> list[str]:
    """Every profile name, built-ins first; imports nothing."""
    return [*_BUILT_IN, *_extra]


def profile_class(name: str) -> type[Profile]:
    if name not in _registry:
        if name not in _BUILT_IN:
            raise KeyError(name)
        module, _, attribute = _BUILT_IN[name].partition(":")
        cls = getattr(importlib.import_module(module), attribute)
        assert issubclass(cls, Profile) and cls.name == name, f"{_BUILT_IN[name]} is not the {name!r} profile"
        _registry[name] = cls
    return _registry[name]


def chosen_class(settings: Settings) -> type[Profile]:
    """The profile the settings ask for: CXONE_API, else the first whose ``chosen_by`` setting is set, else the
    default one."""
    if settings.api is not None:
        return profile_class(settings.api)
    classes = [profile_class(name) for name in names()]
    for cls in classes:
        if cls.chosen_by is not None and getattr(settings, cls.chosen_by):
            return cls
    return next(cls for cls in classes if cls.is_default)
