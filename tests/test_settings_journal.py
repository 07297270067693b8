"""Settings from TOML and OPSCONSOLE_* variables, and the append-only operations journal."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from console.audit import Journal
from console.errors import ErrorKind, OpsError
from console.settings import Settings, load_settings, with_overrides


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path, env: dict[str, str] | None = None) -> OpsError:
    with pytest.raises(OpsError) as caught:
        load_settings(path, env=env or {})
    assert caught.value.kind is ErrorKind.CONFIG
    return caught.value


# settings -----------------------------------------------------------------------------------


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml", env={})
    assert settings.cloud == "AzureCloud"
    assert settings.read_only is False
    assert settings.keys == {}
    assert settings.config_path == tmp_path / "absent.toml"


def test_file_values_are_read_and_typed(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        'cloud = "AzureUSGovernment"\n'
        "read_only = true\n"
        'read_only_subscriptions = ["sub-a", "sub-b"]\n'
        "refresh_seconds = 15\n"
        "retry_total = 5\n"
        f'data_dir = "{tmp_path / "data"}"\n',
    )
    settings = load_settings(path, env={})
    assert settings.cloud == "AzureUSGovernment"
    assert settings.read_only is True
    assert settings.read_only_subscriptions == ("sub-a", "sub-b")
    assert settings.refresh_seconds == 15.0
    assert settings.retry_total == 5
    assert settings.journal_path == tmp_path / "data" / "journal.jsonl"


def test_broken_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'cloud = "AzureCloud"\nread_only = true\nrefresh_seconds = = 3\n')
    error = config_error(path)
    assert str(path) in str(error)
    assert "line 3" in str(error)
    assert "not valid TOML" in str(error)


def test_unknown_key_names_its_line_and_the_known_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'cloud = "AzureCloud"\n\nreadonly = true\n')
    error = config_error(path)
    assert f"{path}, line 3" in str(error)
    assert "'readonly'" in str(error)
    assert "read_only" in str(error)


def test_wrong_type_names_its_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'theme = "nord"\nrefresh_seconds = "soon"\n')
    error = config_error(path)
    assert f"{path}, line 2" in str(error)
    assert "refresh_seconds must be a number" in str(error)


def test_bad_keys_table_names_its_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'theme = "nord"\n\n[keys]\n"resources.refresh" = 5\n')
    error = config_error(path)
    assert "line 3" in str(error)
    assert "keys must be a table of strings" in str(error)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "read_only = false\nrefresh_seconds = 15\n")
    env = {
        "OPSCONSOLE_READ_ONLY": "yes",
        "OPSCONSOLE_REFRESH_SECONDS": "2.5",
        "OPSCONSOLE_PROTECTED_SUBSCRIPTIONS": "sub-a, sub-b",
        "OPSCONSOLE_UNRELATED": "ignored",
    }
    settings = load_settings(path, env=env)
    assert settings.read_only is True
    assert settings.refresh_seconds == 2.5
    assert settings.protected_subscriptions == ("sub-a", "sub-b")
    assert settings.is_protected("SUB-B")


def test_config_path_can_come_from_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'theme = "nord"\n')
    assert load_settings(env={"OPSCONSOLE_CONFIG": str(path)}).theme == "nord"


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    error = config_error(tmp_path / "absent.toml", env={"OPSCONSOLE_RETRY_TOTAL": "many"})
    assert "OPSCONSOLE_RETRY_TOTAL" in str(error)
    assert "retry_total must be an integer" in str(error)


def test_explicit_overrides_win_and_none_leaves_alone(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'subscription = "from-file"\nread_only = false\n')
    settings = load_settings(path, env={"OPSCONSOLE_READ_ONLY": "false"}, read_only=True, subscription=None)
    assert settings.read_only is True
    assert settings.subscription == "from-file"
    assert with_overrides(settings, subscription=None, theme="nord").theme == "nord"


def test_keys_table_is_read(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[keys]\n"resources.refresh" = "f5"\n"shell.jump" = "ctrl+j"\n')
    settings = load_settings(path, env={})
    assert settings.keys == {"resources.refresh": "f5", "shell.jump": "ctrl+j"}


def test_read_only_per_subscription_ignores_case() -> None:
    settings = Settings(read_only_subscriptions=("ABC",))
    assert settings.is_read_only("abc")
    assert not settings.is_read_only("def")
    assert not settings.is_read_only(None)


# journal ------------------------------------------------------------------------------------


def raw_lines(journal: Journal) -> list[str]:
    return journal.path.read_text().splitlines(keepends=True)


def test_records_are_whole_private_lines(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "nested" / "journal.jsonl")
    journal.record("intent", "swap", "app-checkout-prod", operation_id="o-1", slot="staging")
    journal.record("outcome", "swap", "app-checkout-prod", operation_id="o-1", result="succeeded")
    intent, done = journal.entries()
    assert (intent["phase"], done["phase"]) == ("intent", "outcome")
    assert intent["slot"] == "staging" and done["result"] == "succeeded"
    lines = raw_lines(journal)
    assert len(lines) == 2 and all(line.endswith("\n") for line in lines)
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert journal.path.stat().st_mode & 0o077 == 0


def test_every_record_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: Any) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    journal = Journal(tmp_path / "journal.jsonl")
    journal.record("intent", "restart", "app-catalog-prod")
    journal.record("outcome", "restart", "app-catalog-prod")
    assert len(synced) == 2


def test_torn_last_line_is_skipped_and_does_not_swallow_the_next_entry(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.record("intent", "swap", "app-a")
    with journal.path.open("a") as handle:
        handle.write('{"phase": "outcome", "act')  # a crash in the middle of a write
    assert [e["target"] for e in journal.entries()] == ["app-a"]
    journal.record("intent", "swap", "app-b")
    assert [e["target"] for e in journal.entries()] == ["app-a", "app-b"]


def test_entries_of_a_missing_journal_are_empty(tmp_path: Path) -> None:
    assert Journal(tmp_path / "none.jsonl").entries() == []
