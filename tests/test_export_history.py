"""Query history persistence and result export, on real files and real Arrow tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.errors import OpsError
from console.export import ExportCancelledError, export_table, format_for
from console.history import REDACTED, QueryHistory, redact


def sample_table(rows: int = 1000) -> pa.Table:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    return pa.table(
        {
            "TimeGenerated": pa.array(
                [start.replace(minute=i % 60, second=i % 60) for i in range(rows)], pa.timestamp("us", tz="UTC")
            ),
            "Name": pa.array([f"GET /api/{i % 7}" if i % 11 else None for i in range(rows)]),
            "DurationMs": pa.array([i / 3 for i in range(rows)], pa.float64()),
            "Count": pa.array(range(rows), pa.int64()),
            "Props": pa.array([json.dumps({"i": i, "tags": ["a", "b"]}) for i in range(rows)]),
        }
    )


# history --------------------------------------------------------------------------------------


def test_history_survives_a_new_session_and_keeps_at_least_500(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    first = QueryHistory(path, limit=500)
    for number in range(1200):
        first.add(f"AppRequests | take {number}", workspace="demo", timespan="last 24h", rows=number)
    reopened = QueryHistory(path, limit=500)
    entries = reopened.entries()
    assert len(entries) >= 500
    assert entries[-1].kql == "AppRequests | take 1199"
    assert entries[-1].rows == 1199
    assert len(path.read_text().splitlines()) <= 2 * 500 + 1


def test_history_search_is_newest_first_distinct_and_matches_all_words(tmp_path: Path) -> None:
    history = QueryHistory(tmp_path / "h.jsonl")
    history.add("AppRequests | where Success == false")
    history.add("Heartbeat | summarize count() by Computer")
    history.add("AppRequests | where Success == false")
    history.add("AppRequests | summarize avg(DurationMs)")
    found = history.search("apprequests success")
    assert [e.kql for e in found] == ["AppRequests | where Success == false"]
    assert history.search("")[0].kql == "AppRequests | summarize avg(DurationMs)"
    assert len(history.search("")) == 3


def test_history_skips_torn_lines_and_blank_queries(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"kql": "Heartbeat | take 1", "at": "x"}\n{"kql": "Heart', encoding="utf-8")
    history = QueryHistory(path)
    assert history.add("   ") is None
    assert [e.kql for e in history.entries()] == ["Heartbeat | take 1"]


def test_history_never_writes_secrets(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history = QueryHistory(path)
    history.add(
        "AzureDiagnostics | where password == \"hunter2\" and api_key =~ 'abc123'\n"
        '| extend u = "https://x.blob.core.windows.net/c?sv=2020&sig=SECRETSIG&se=2030"\n'
        '| extend h = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"'
    )
    text = path.read_text()
    for secret in ("hunter2", "abc123", "SECRETSIG", "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in text
    assert REDACTED in text
    assert "AzureDiagnostics | where password ==" in text


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_redact_is_total_and_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


# export ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_export_round_trips_with_progress(tmp_path: Path, suffix: str) -> None:
    table = sample_table(1000)
    path = tmp_path / f"result{suffix}"
    seen: list[tuple[int, int]] = []
    written = export_table(table, path, chunk_rows=300, progress=lambda done, total: seen.append((done, total)))
    assert written == 1000
    assert seen == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]
    if suffix == ".parquet":
        back = pq.read_table(path)
        assert back.equals(table)
    elif suffix == ".csv":
        back = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        assert back.num_rows == 1000
        assert back.column("Count").to_pylist() == list(range(1000))
        assert back.column("Name").null_count == table.column("Name").null_count
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 1000
        first = json.loads(lines[0])
        assert first["TimeGenerated"] == "2024-05-01T00:00:00Z"  # the console's one spelling
        assert first["Name"] is None


def test_jsonl_embeds_dynamic_columns_and_reads_back_with_pyarrow(tmp_path: Path) -> None:
    import pyarrow.json as pajson

    path = tmp_path / "r.jsonl"
    export_table(sample_table(50), path, json_columns=["Props"])
    back = pajson.read_json(path)
    assert back.num_rows == 50
    assert back.column("Props").to_pylist()[3] == {"i": 3, "tags": ["a", "b"]}


def test_export_stops_when_asked_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    with pytest.raises(ExportCancelledError):
        export_table(sample_table(1000), path, chunk_rows=100, should_stop=lambda: True)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_export_explains_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(OpsError, match="export format"):
        format_for(tmp_path / "r.xlsx")
    with pytest.raises(OpsError, match="does not exist"):
        export_table(sample_table(3), tmp_path / "missing" / "r.csv")
    with pytest.raises(OpsError, match="directory"):
        export_table(sample_table(3), tmp_path, fmt="csv")


def test_export_of_an_empty_result_writes_a_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert export_table(sample_table(0), path) == 0
    assert pq.read_table(path).num_rows == 0
