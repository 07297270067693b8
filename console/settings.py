"""Settings: a TOML file in the user config dir, overridden by OPSCONSOLE_* environment variables."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from console.errors import ErrorKind, OpsError

APP_NAME = "opsconsole"


def config_dir() -> Path:
    return Path(os.environ.get("OPSCONSOLE_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    return Path(os.environ.get("OPSCONSOLE_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))


@dataclass(frozen=True)
class Settings:
    """Everything the console can be told; defaults suit real Azure in the public cloud."""

    cloud: str = "AzureCloud"
    subscription: str | None = None
    read_only: bool = False
    read_only_subscriptions: tuple[str, ...] = ()
    protected_subscriptions: tuple[str, ...] = ()
    theme: str = "textual-dark"
    refresh_seconds: float = 30.0
    keys: dict[str, str] = field(default_factory=dict)
    workspace: str | None = None
    data_dir: Path = field(default_factory=data_dir)
    connection_verify: str | None = None
    retry_total: int = 3
    timeout_seconds: float = 60.0
    demo_telemetry_scale: float = 1.0
    config_path: Path | None = None

    @property
    def demo_arguments(self) -> list[str]:
        """Extra arguments for a local Azure that `--demo` starts."""
        return ["--telemetry-scale", str(self.demo_telemetry_scale)]

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.jsonl"

    @property
    def runbooks_dir(self) -> Path:
        """Where the user's own runbooks live, beside the config file."""
        return (self.config_path.parent if self.config_path else config_dir()) / "runbooks"

    @property
    def history_path(self) -> Path:
        return self.data_dir / "query-history.jsonl"

    def is_read_only(self, subscription_id: str | None) -> bool:
        """Whether mutations are refused for this subscription (globally or by config)."""
        if self.read_only:
            return True
        wanted = (subscription_id or "").lower()
        return any(s.lower() == wanted for s in self.read_only_subscriptions)

    def is_protected(self, subscription_id: str | None) -> bool:
        wanted = (subscription_id or "").lower()
        return any(s.lower() == wanted for s in self.protected_subscriptions)


_TYPES: dict[str, type] = {
    "cloud": str,
    "subscription": str,
    "read_only": bool,
    "read_only_subscriptions": tuple,
    "protected_subscriptions": tuple,
    "theme": str,
    "refresh_seconds": float,
    "keys": dict,
    "workspace": str,
    "data_dir": Path,
    "connection_verify": str,
    "retry_total": int,
    "timeout_seconds": float,
    "demo_telemetry_scale": float,
}


def _coerce(name: str, value: Any, origin: str) -> Any:
    wanted = _TYPES[name]
    try:
        if wanted is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                return value.lower() in {"1", "true", "yes", "on"}
            raise ValueError
        if wanted is tuple:
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if wanted is dict:
            if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
                return {str(k): v for k, v in value.items()}
            raise ValueError
        if wanted is Path:
            return Path(str(value)).expanduser()
        if wanted in (int, float) and isinstance(value, bool):
            raise ValueError
        return wanted(value)
    except (TypeError, ValueError):
        article = {
            "bool": "true or false",
            "tuple": "a list of strings",
            "dict": "a table of strings",
            "int": "an integer",
            "float": "a number",
        }
        expected = article.get(wanted.__name__, f"a {wanted.__name__}")
        raise OpsError(ErrorKind.CONFIG, f"{origin}: {name} must be {expected}, not {value!r}.") from None


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        # `key = value`, or the header of a table such as `[keys]`
        if re.match(rf"\s*(?:{re.escape(key)}\s*=|\[\s*{re.escape(key)}\s*\])", line):
            return number
    return None


def load_settings(path: Path | None = None, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read the config file (if any), then OPSCONSOLE_* variables, then explicit overrides."""
    env = dict(os.environ if env is None else env)
    path = path or Path(env.get("OPSCONSOLE_CONFIG") or config_dir() / "config.toml")
    values: dict[str, Any] = {}
    if path.exists():
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise OpsError(ErrorKind.CONFIG, f"The config file {path} is not valid TOML: {error}.") from None
        for key, value in raw.items():
            if key not in _TYPES:
                line = _line_of(text, key)
                where = f"{path}, line {line}" if line else str(path)
                known = ", ".join(sorted(_TYPES))
                raise OpsError(ErrorKind.CONFIG, f"{where}: unknown setting {key!r}; known settings: {known}.")
            line = _line_of(text, key)
            values[key] = _coerce(key, value, f"{path}, line {line}" if line else str(path))
    for name in _TYPES:
        variable = f"OPSCONSOLE_{name.upper()}"
        if variable in env:
            values[name] = _coerce(name, env[variable], f"environment variable {variable}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values, config_path=path)
    known_names = {f.name for f in fields(Settings)}
    assert set(values) <= known_names
    return settings


def unknown_binding_ids(keys: dict[str, str], known: set[str], where: Path | None = None) -> str | None:
    """A sentence naming the `[keys]` entries that match no key binding id (None when all do)."""
    unknown = sorted(set(keys) - known)
    if not unknown:
        return None
    place = f"{where}: " if where else ""
    names = ", ".join(repr(name) for name in unknown)
    noun = "binding id" if len(unknown) == 1 else "binding ids"
    return f"{place}[keys] names unknown {noun} {names}; press ? in an area to see the ids its keys have."


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of `settings` with the given fields replaced (None leaves a field alone)."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})
