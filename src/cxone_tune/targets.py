"""Several targets in one run: an optional TOML file listing campaigns or skills, each with its own settings.

```toml
[defaults]              # any setting, named like its variable without CXONE_ and in lower case
policy = "stable"

[[targets]]
name = "renewals"       # shown in output, audit lines and errors
campaign_id = "c-100"   # v2; or skill_id = 4567 for acd
max_limit = 30
```

Precedence: command-line options, then the target's own keys, then ``[defaults]``, then the environment.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxone_tune.errors import ConfigError
from cxone_tune.files import read_trusted
from cxone_tune.settings import SECRET_SETTINGS, Settings, absolute_env, home_dir, load_settings

# When several targets fail, the exit code is the worst one: a bug first, then what needs a person
# (configuration, credentials), then what the API did, then what the next tick may cure.
_SEVERITY = [70, 78, 77, 76, 69, 75, 2]


def worst_exit(codes: list[int]) -> int:
    failing = [code for code in codes if code != 0]
    if not failing:
        return 0
    return min(failing, key=lambda code: _SEVERITY.index(code) if code in _SEVERITY else -1)


@dataclass(frozen=True)
class TargetSpec:
    name: str | None
    overrides: dict[str, Any] = field(default_factory=dict)


def default_config_path() -> Path | None:
    """systemd's ConfigurationDirectory=, else the XDG config directory, else under HOME; None when HOME is
    unusable (an empty HOME must not make a config file in the working directory count)."""
    configured = os.environ.get("CONFIGURATION_DIRECTORY", "").split(":")[0]
    if os.path.isabs(configured):
        return Path(configured) / "config.toml"
    try:
        base = absolute_env("XDG_CONFIG_HOME") or home_dir("--config") / ".config"
    except ConfigError:
        return None
    return base / "cxone-tune" / "config.toml"


# A config file is no place for secrets (they belong in the environment or a credential file, which systemd
# and Kubernetes keep out of sight).
SECRET_KEYS = frozenset(SECRET_SETTINGS)


def load_targets(path: Path | None) -> list[TargetSpec]:
    """The targets of the config file; one unnamed target (the environment alone) when there is no file."""
    explicit = path is not None
    path = path or default_config_path()
    if path is None:
        return [TargetSpec(None)]
    variable = "--config" if explicit else "config file"
    try:
        # Like a .env, a file others could write could point the tool (and the secrets) at their server.
        content = read_trusted(path, variable)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"--config: {path} does not exist") from None
        return [TargetSpec(None)]
    document = _toml(content, path)
    unknown = set(document) - {"defaults", "targets"}
    if unknown:
        raise ConfigError(f"{path}: unknown section {sorted(unknown)[0]!r} (expected [defaults] and [[targets]])")
    defaults = _settings_table(document.get("defaults", {}), path, "[defaults]")
    targets = document.get("targets", [])
    if not isinstance(targets, list) or not targets:
        raise ConfigError(f"{path}: no [[targets]] listed")
    specs: list[TargetSpec] = []
    for index, entry in enumerate(targets, 1):
        where = f"target {index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {where} is not a table")
        table = dict(entry)
        name = table.pop("name", None)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{path}: {where} has no name")
        if name in {spec.name for spec in specs}:
            raise ConfigError(f"{path}: target name {name!r} is used twice")
        specs.append(TargetSpec(name, {**defaults, **_settings_table(table, path, f"target {name!r}")}))
    return specs


def _toml(content: bytes, path: Path) -> dict[str, Any]:
    # The TOML parser is imported only for a file there is: most runs have none.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _settings_table(table: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} is not a table")
    for key in table:
        if key not in Settings.model_fields:
            raise ConfigError(f"{path}: {where}: {key!r} is not a setting")
        if key in SECRET_KEYS:
            raise ConfigError(
                f"{path}: {where}: {key!r} is a secret and does not belong in the config file; "
                f"set CXONE_{key.upper()} in the environment or as a credential file"
            )
    return dict(table)


def target_settings(spec: TargetSpec, cli_overrides: dict[str, Any]) -> Settings:
    given = {key: value for key, value in cli_overrides.items() if value is not None}
    try:
        return load_settings(**{**spec.overrides, **given})
    except ConfigError as exc:
        if spec.name is None:
            raise
        raise ConfigError(f"target {spec.name!r}: {exc}") from None
