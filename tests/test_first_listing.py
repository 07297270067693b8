"""The first listing a forked copy of the console makes while it paints (console.services.first_listing).

Each case runs tests/first_listing_probe.py in a fresh process, as the console forks at its start: before
any thread runs. The probe takes the copy's listing through the Resources service, then lists again through
the SDK, and prints both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import EmulatorThread

PROBE = Path(__file__).with_name("first_listing_probe.py")


def probe(local_azure: EmulatorThread, tmp_path: Path, mode: str, **extra: str) -> tuple[dict[str, Any], str]:
    environment = {
        **os.environ,
        "OPSCONSOLE_DATA_DIR": str(tmp_path / "data"),
        "OPSCONSOLE_PROBE_READINESS": json.dumps(local_azure.readiness),
        **extra,
    }
    done = subprocess.run(
        [sys.executable, str(PROBE), mode], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout + done.stderr


def test_the_copys_listing_is_what_the_sdk_lists_and_comes_before_the_console_connects(
    local_azure: EmulatorThread, tmp_path: Path
) -> None:
    answer, _ = probe(local_azure, tmp_path, "ok")
    assert answer["answered_by_copy"]
    assert answer["subscriptions"] == answer["sdk_subscriptions"]
    assert len(answer["subscriptions"]) == 2
    assert answer["resources"] and answer["resources"] == answer["sdk_resources"]
    assert answer["copy_reaped"]
    assert answer["cached_subscriptions"] == 2  # what the copy listed is remembered, as any listing is


def test_the_copy_lists_the_preferred_subscription(local_azure: EmulatorThread, tmp_path: Path) -> None:
    answer, _ = probe(local_azure, tmp_path, "ok", OPSCONSOLE_PROBE_PREFERRED="contoso production")
    assert answer["answered_by_copy"]
    preferred = next(s["id"] for s in answer["subscriptions"] if s["name"] == "Contoso Production")
    assert answer["subscriptions"][0]["id"] != preferred  # not simply the first one
    assert {r["subscription"] for r in answer["resources"]} == {preferred}
    assert answer["resources"] == answer["sdk_resources"]


def test_a_copy_that_fails_leaves_the_console_to_list_for_itself(local_azure: EmulatorThread, tmp_path: Path) -> None:
    answer, output = probe(local_azure, tmp_path, "fail", OPSCONSOLE_PROBE_CONNECT_FIRST="1")
    assert answer["listed_itself"]
    assert answer["subscriptions"] == answer["sdk_subscriptions"]
    assert answer["copy_reaped"]
    assert "no sign-in here" not in output  # the copy's failure is never printed


def test_a_copy_that_never_answers_is_given_up_and_stopped(local_azure: EmulatorThread, tmp_path: Path) -> None:
    answer, _ = probe(local_azure, tmp_path, "hang", OPSCONSOLE_PROBE_CONNECT_FIRST="1")
    assert answer["listed_itself"]
    assert answer["subscriptions"] == answer["sdk_subscriptions"]
    assert answer["copy_reaped"]


def test_nothing_the_copy_writes_reaches_the_terminal(local_azure: EmulatorThread, tmp_path: Path) -> None:
    answer, output = probe(local_azure, tmp_path, "noisy")
    assert answer["answered_by_copy"]
    assert "copy's stdout" not in output
    assert "copy's stderr" not in output
    assert "a warning the copy logs" not in output


def test_a_listing_older_than_its_freshness_is_not_shown_as_current(
    local_azure: EmulatorThread, tmp_path: Path
) -> None:
    answer, _ = probe(local_azure, tmp_path, "ok", OPSCONSOLE_PROBE_STALE="1", OPSCONSOLE_PROBE_CONNECT_FIRST="1")
    assert answer["listed_itself"]
    assert answer["subscriptions"] == answer["sdk_subscriptions"]
