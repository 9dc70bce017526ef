"""API profiles behind one interface; adding a profile means adding a module and a line here."""

from __future__ import annotations

from cxone_tune.errors import ConfigError
from cxone_tune.http import ApiClient
from cxone_tune.profiles.base import Agent, AgentSnapshot, LoginInfo, Profile, Target
from cxone_tune.settings import Settings

__all__ = ["Agent", "AgentSnapshot", "LoginInfo", "Profile", "Target", "build_profile"]


def build_profile(settings: Settings, client: ApiClient) -> Profile:
    name = settings.api_name
    if name == "v2":
        from cxone_tune.profiles.v2 import V2Profile

        return V2Profile(settings, client)
    if name == "acd":
        from cxone_tune.profiles.acd import AcdProfile

        return AcdProfile(settings, client)
    raise ConfigError(f"CXONE_API: the {name!r} profile is not available in this version")
