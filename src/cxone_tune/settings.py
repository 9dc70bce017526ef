"""Configuration: environment (prefix ``CXONE_``), ``.env``, systemd credentials, command-line overrides.

Every validation failure becomes one :class:`ConfigError` line naming the variable, never a pydantic dump.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import typing
import unicodedata
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cxone_tune.errors import ConfigError
from cxone_tune.files import check_credentials, open_file, read_fd, read_trusted

if TYPE_CHECKING:
    from cxone_tune.profiles.base import Profile

log = logging.getLogger(__name__)

ENV_PREFIX = "CXONE_"


def _credentials_dir() -> str | None:
    # systemd's LoadCredential= exposes each secret as a file in $CREDENTIALS_DIRECTORY.
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    return directory if directory and Path(directory).is_dir() else None


def _checked_credentials_dir() -> str | None:
    """``$CREDENTIALS_DIRECTORY``, its files held to the rule of ``files.py``: pydantic-settings reads any setting
    there (a tenant URL or issuer as well as a secret), so another user's file must not be one of them."""
    directory = _credentials_dir()
    if directory is not None:
        check_credentials(Path(directory), {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields})
    return directory


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(value: str) -> str:
    """Accept https anywhere and plain http only to loopback (the sandbox); drop a trailing slash.

    The value is a base that paths are appended to, so it carries no ``?`` or ``#`` at all (an empty query
    would turn every path after it into a query string), no control character or space (``urlsplit`` drops a
    tab or newline that httpx then refuses), and a port that is a port."""
    text = value.strip()
    for char in text:
        if char.isspace() or not char.isprintable():
            raise ValueError(f"holds a control character or space ({char!a}); a URL has none")
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (user:password@); use the secret settings")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"plain http is only allowed to loopback; use https for {parts.hostname}")
    if "?" in text or "#" in text:
        raise ValueError("must not carry a query or fragment")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port when it is read
    except ValueError:
        raise ValueError(f"has no valid port ({parts.netloc!r})") from None
    return text.rstrip("/")


MAX_ID_LENGTH = 256  # characters; far above any real CXone id, far below what makes a URL absurd


def check_id(value: str) -> str:
    """An id that goes into a URL path (as one percent-encoded segment, ``http.path_segment``): not empty,
    not ``.`` or ``..`` (which a URL resolves as "this" or "the parent" resource whatever the encoding), no
    control or other non-printing character (category C*, line and paragraph separators), at most
    ``MAX_ID_LENGTH`` characters."""
    if not value.strip():
        raise ValueError("must not be empty")
    if value.strip() in (".", ".."):
        raise ValueError(f"{value!r} is not an id (it names the current or parent path)")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"is {len(value)} characters long; an id has at most {MAX_ID_LENGTH}")
    for char in value:
        if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            raise ValueError(f"holds a control character ({char!a}); ids are printable text")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    api: str | None = None  # a registered profile's name (cxone_tune.profiles)

    # profile v2 (the design document's API)
    tenant_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    campaign_id: str | None = None

    # profile acd (real CXone tenants)
    access_key_id: str | None = None
    access_key_secret: SecretStr | None = None
    issuer: str = "https://cxone.niceincontact.com"
    api_base: str | None = None
    skill_id: int | None = Field(default=None, gt=0)
    pacing_field: str = Field(default="maximumRatio", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    pacing_kind: Literal["auto", "ratio", "count"] = "auto"
    api_version: str = Field(default="v30.0", pattern=r"^v\d{1,2}\.\d$")
    available_states: str | None = None  # default: the profile's (v2 "available", acd "Available,Dialer")
    team_ids: str | None = None  # only agents of these teams count (both profiles)
    queue_ids: str | None = None  # only agents of these queues (v2 queueId) or skills (acd skillId) count
    ratio_steps: str = "0:1.0,6:1.5,15:2.0"
    min_ratio: Decimal = Decimal("1.0")
    max_ratio: Decimal = Decimal("3.0")
    # the skill's own pool (for profiles that have one: acd): who counts, and the cross-check with skill activity
    pool_source: Literal["assigned", "activity", "tenant"] = "assigned"
    pool_margin: int = Field(default=2, ge=0, le=100_000)

    # the abandon guard (for profiles with abandon figures: acd)
    abandon_guard: bool = True
    abandon_setpoint_pct: Decimal = Decimal("2.0")
    abandon_cap_pct: Decimal = Decimal("3.0")
    abandon_min_calls: int = Field(default=20, ge=0, le=1_000_000)
    abandon_short_minutes: int = Field(default=30, ge=1, le=1440)
    abandon_window: Literal["today", "30d"] = "today"
    abandon_time_zone: str = "UTC"

    # policy: "design" is the design document's rule; "stable" switches on the options below (each of which can
    # also be set on its own, and wins over the preset)
    policy: Literal["design", "stable"] = "design"
    acw_weight: Decimal | None = Field(default=None, ge=0, le=1)
    count_busy: bool | None = None
    small_team_size: int | None = Field(default=None, ge=0, le=1000)
    no_agents: Literal["minimum", "hold"] | None = None
    raise_after_runs: int | None = Field(default=None, ge=1, le=20)
    max_raise: Decimal | None = Field(default=None, gt=0)
    max_raise_pct: Decimal | None = Field(default=None, gt=0, le=1000)
    max_lower_pct: Decimal | None = Field(default=None, gt=0, le=100)
    deadband: Decimal | None = Field(default=None, ge=0)
    deadband_pct: Decimal | None = Field(default=None, ge=0, le=100)
    safety_factor: Decimal = Decimal("0.8")
    min_limit: int = Field(default=1, ge=1)
    max_limit: int = Field(default=50, ge=1)

    # transport
    page_size: int = Field(default=1000, ge=1, le=10_000)
    # acd requests at once: agents/states pages, and the reads that need no agents (1: each after the one before)
    page_concurrency: int = Field(default=8, ge=1, le=32)
    connect_timeout: float = Field(default=5.0, gt=0, le=60)
    read_timeout: float = Field(default=15.0, gt=0, le=120)
    max_attempts: int = Field(default=5, ge=1, le=20)
    time_budget: float = Field(default=120.0, gt=0, le=280)
    retry_after_cap: float = Field(default=30.0, ge=0, le=120)
    max_conflict_retries: int = Field(default=3, ge=0, le=10)

    cache_dir: Path | None = None
    state_dir: Path | None = None

    # unattended operation
    metrics_file: Path | None = None
    healthcheck_url: str | None = None

    # TLS: certificates are always verified; this only adds a private CA (e.g. a corporate proxy's)
    ca_bundle: Path | None = None

    @field_validator("api")
    @classmethod
    def _api(cls, value: str | None) -> str | None:
        from cxone_tune import profiles

        if value is not None and value not in profiles.names():
            known = " or ".join(repr(name) for name in profiles.names())
            raise ValueError(f"{value!r} is not an API profile; expected {known}")
        return value

    @field_validator("tenant_url", "issuer", "api_base", "healthcheck_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():  # CXONE_ISSUER= means "not set": the default
            default: str | None = cls.model_fields[str(info.field_name)].default
            return default
        return check_url(value)

    @field_validator("safety_factor")
    @classmethod
    def _factor(cls, value: Decimal) -> Decimal:
        if not (value.is_finite() and Decimal(0) < value <= Decimal(1)):
            raise ValueError(f"must be greater than 0 and at most 1, got {value}")
        return value

    @field_validator("campaign_id")
    @classmethod
    def _campaign(cls, value: str | None) -> str | None:
        if value is not None:
            check_id(value)
        if value is not None and ("/" in value or "?" in value or "#" in value):
            raise ValueError(f"is not a valid campaign id: {value!r}")
        return value

    @field_validator("min_ratio", "max_ratio")
    @classmethod
    def _ratio(cls, value: Decimal) -> Decimal:
        if not (value.is_finite() and value > 0):
            raise ValueError(f"must be a positive number, got {value}")
        return value

    @field_validator("abandon_setpoint_pct", "abandon_cap_pct")
    @classmethod
    def _percent(cls, value: Decimal) -> Decimal:
        if not (value.is_finite() and Decimal(0) < value <= Decimal(100)):
            raise ValueError(f"must be a percentage above 0 and at most 100, got {value}")
        return value

    @field_validator("abandon_time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        time_zone(value)  # ValueError naming what is wrong
        return value

    @field_validator("available_states")
    @classmethod
    def _states(cls, value: str | None) -> str | None:
        if value is not None and not parse_list(value):
            raise ValueError("must name at least one state, e.g. Available,Dialer")
        return value

    @field_validator("team_ids", "queue_ids")
    @classmethod
    def _ids(cls, value: str | None) -> str | None:
        if value is not None and not parse_list(value):
            raise ValueError("must list at least one id, comma-separated")
        return value

    @field_validator("team_ids", "queue_ids")
    @classmethod
    def _id_items(cls, value: str | None) -> str | None:
        for item in parse_list(value or ""):
            try:
                check_id(item)
            except ValueError as exc:
                raise ValueError(f"{item[:40]!r}: {exc}") from None
        return value

    @field_validator("ratio_steps")
    @classmethod
    def _steps(cls, value: str) -> str:
        parse_steps(value)
        return value

    @field_validator("cache_dir", "state_dir", "metrics_file", "ca_bundle", mode="before")
    @classmethod
    def _empty_path(cls, value: Any) -> Any:
        # CXONE_STATE_DIR= means "not set" (the default), never the working directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_file")
    @classmethod
    def _metrics_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        from cxone_tune.monitor import check_metrics_path  # only when there is a metrics file

        return check_metrics_path(value)  # a planted link is exit 78 before the run

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        # Whoever can write the bundle can add a CA of their own and read the traffic: the rule of files.py.
        if value is not None:
            try:
                read_trusted(value, "CXONE_CA_BUNDLE")
            except FileNotFoundError:
                raise ValueError(f"{value} does not exist") from None
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Settings:
        if self.min_limit > self.max_limit:
            raise ValueError(f"CXONE_MIN_LIMIT ({self.min_limit}) is above CXONE_MAX_LIMIT ({self.max_limit})")
        self.profile_class.check_settings(self)
        if self.min_ratio > self.max_ratio:
            raise ValueError(f"CXONE_MIN_RATIO ({self.min_ratio}) is above CXONE_MAX_RATIO ({self.max_ratio})")
        if self.abandon_setpoint_pct > self.abandon_cap_pct:
            raise ValueError(
                f"CXONE_ABANDON_SETPOINT_PCT ({self.abandon_setpoint_pct}) is above CXONE_ABANDON_CAP_PCT"
                f" ({self.abandon_cap_pct})"
            )
        return self

    @property
    def profile_class(self) -> type[Profile]:
        """The API profile these settings choose (CXONE_API, else the profiles' own rule)."""
        from cxone_tune import profiles

        return profiles.chosen_class(self)

    @property
    def api_name(self) -> str:
        return self.profile_class.name

    @property
    def value_kind(self) -> Literal["ratio", "count"]:
        """What the steered value is: a line count or a per-agent ratio (the profile says which)."""
        return self.profile_class.value_kind(self)

    def available_state_names(self) -> list[str]:
        return parse_list(self.available_states or ",".join(self.profile_class.default_available_states))

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or _xdg_dir("CXONE_CACHE_DIR", "CACHE_DIRECTORY", "XDG_CACHE_HOME", ".cache")

    def resolved_state_dir(self) -> Path:
        return self.state_dir or _xdg_dir("CXONE_STATE_DIR", "STATE_DIRECTORY", "XDG_STATE_HOME", ".local/state")


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


# Every secret setting, found by its type: the log redaction masks each of them, with no list kept by hand.
SECRET_SETTINGS = tuple(name for name, field in Settings.model_fields.items() if _holds_secret(field.annotation))


def time_zone(name: str) -> tzinfo:
    """An IANA time zone by name ("Europe/London"; "UTC" needs no time zone database); ValueError otherwise."""
    if name.strip().upper() in ("UTC", "Z"):
        return timezone.utc
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        shown = name if len(name) <= 60 else name[:60] + "..."
        raise ValueError(f"{shown!r} is not an IANA time zone (e.g. Europe/London, America/New_York)") from None


def parse_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_steps(value: str) -> tuple[tuple[int, Decimal], ...]:
    """``"0:1.0,6:1.5,15:2.0"`` -> ((0, 1.0), (6, 1.5), (15, 2.0)); ValueError with a readable message."""
    steps: list[tuple[int, Decimal]] = []
    for item in parse_list(value):
        agents, sep, ratio = item.partition(":")
        try:
            parsed = (int(agents), Decimal(ratio))
        except (ValueError, ArithmeticError):
            parsed = (-1, Decimal(0))
        if not sep or parsed[0] < 0 or not parsed[1].is_finite() or parsed[1] <= 0:
            raise ValueError(f"{item!r} is not AGENTS:RATIO (e.g. 6:1.5)")
        steps.append(parsed)
    if not steps or steps[0][0] != 0:
        raise ValueError("must start at 0 agents, e.g. 0:1.0,6:1.5,15:2.0")
    if [n for n, _ in steps] != sorted({n for n, _ in steps}):
        raise ValueError("agent thresholds must be strictly increasing")
    return tuple(steps)


def absolute_env(name: str) -> Path | None:
    """``$name`` as a path when it is set, non-empty and absolute (the XDG rule: relative ones are ignored)."""
    value = os.environ.get(name, "")
    return Path(value) if os.path.isabs(value) else None


def home_dir(setting: str) -> Path:
    """``$HOME``, which must be an absolute path other than ``/``: an empty, unset or relative HOME would put
    the tool's files under ``/`` or the working directory (a git tree, say)."""
    home = os.environ.get("HOME")
    if home is None:
        problem = "is not set"
    elif not home.strip():
        problem = "is empty"
    elif not os.path.isabs(home):
        problem = f"is not an absolute path ({home!r})"
    elif Path(home) == Path("/"):
        problem = "is /"
    else:
        return Path(home)
    raise ConfigError(f"HOME {problem}: set {setting} to the directory cxone-tune should use")


def _xdg_dir(setting: str, systemd_var: str, xdg_var: str, fallback: str) -> Path:
    # systemd may pass several colon-separated directories; the first is ours.
    systemd_dir = os.environ.get(systemd_var, "").split(":")[0]
    if os.path.isabs(systemd_dir):
        return Path(systemd_dir)
    base = absolute_env(xdg_var) or home_dir(setting) / fallback
    return base / "cxone-tune"


def _describe(error: dict[str, Any]) -> str:
    loc = error.get("loc") or ()
    name = f"{ENV_PREFIX}{str(loc[0]).upper()}" if loc else "configuration"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    if loc:
        return f"{name}: {message}"
    return message


ENV_FILE = Path(".env")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


@contextmanager
def _checked_env_file(path: Path = ENV_FILE) -> Iterator[tuple[list[str], str | None]]:
    """The variable names a .env file sets, and a name pydantic-settings can read that very file by (None
    when there is none). The file obeys the rule of ``files.py``: another user's .env (or one others may
    write, or a link) could point the tool and its secrets at another server, so it is refused (78). The
    file checked is the file read: it stays open and is read through ``/dev/fd``, so nothing can be swapped
    in (or created) between the check and the read. A line that is not KEY=value is a ConfigError (never
    echoed, since it may hold a secret)."""
    where = path.absolute()
    try:
        fd = open_file(where, os.O_RDONLY, ".env")
    except FileNotFoundError:
        yield [], None
        return
    try:
        try:
            text = read_fd(fd, where, ".env").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{where}: cannot read it: {exc}") from None
        names = []
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            match = _ENV_LINE.match(stripped)
            if match is None:
                raise ConfigError(f"{path} line {number}: not a KEY=value line")
            names.append(match.group(1))
        yield names, f"/dev/fd/{fd}"
    finally:
        os.close(fd)


def _env_file_names(path: Path = ENV_FILE) -> list[str]:
    with _checked_env_file(path) as (names, _):
        return names


def _warn_unknown(names: list[str], where: str) -> None:
    known = {f"{ENV_PREFIX}{field.upper()}" for field in Settings.model_fields}
    for name in names:
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            log.warning("%s: %s is not a cxone-tune setting (a typo?); it is ignored", where, name)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; command-line ``overrides`` (None means "not given") win over the environment."""
    given = {key: value for key, value in overrides.items() if value is not None}
    with _checked_env_file() as (names, env_file):
        _warn_unknown(names, str(ENV_FILE))
        _warn_unknown(list(os.environ), "environment")
        try:
            # Read $CREDENTIALS_DIRECTORY now, not at import, so the directory of this process is the one used.
            return Settings(_secrets_dir=_checked_credentials_dir(), _env_file=env_file, **given)  # type: ignore[call-arg]
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"invalid configuration: {_describe(dict(first))}") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            # e.g. an unreadable credentials directory
            raise ConfigError(f"cannot read configuration: {exc}") from None


def setting_sources(overrides: dict[str, Any]) -> dict[str, str]:
    """Where each setting's value comes from, highest precedence first: option, environment, .env,
    credential file, default."""
    env_names = {name.upper() for name in os.environ}
    file_names = {name.upper() for name in _env_file_names()}
    credentials = _credentials_dir()
    credential_names = {p.name.upper() for p in Path(credentials).iterdir()} if credentials else set()
    sources = {}
    for field in Settings.model_fields:
        variable = f"{ENV_PREFIX}{field.upper()}"
        if overrides.get(field) is not None:
            sources[field] = "option"
        elif variable in env_names:
            sources[field] = "environment"
        elif variable in file_names:
            sources[field] = ".env"
        elif variable in credential_names:
            sources[field] = "credential file"
        else:
            sources[field] = "default"
    return sources


def require(settings: Settings, *names: str) -> None:
    """Fail with one line naming the first missing variable the chosen profile needs."""
    for name in names:
        value = getattr(settings, name)
        if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()) or value == "":
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} is not set (needed by the {settings.api_name} API profile)")
