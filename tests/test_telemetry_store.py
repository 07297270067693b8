"""How telemetry is kept in the database file: compact stored rows behind views, a file of an older
layout replaced, and the gap after a restart written into the store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from console.emulator.kql_engine import KqlEngine
from console.emulator.telemetry import (
    STORE_SCHEMA,
    TABLES,
    create_tables,
    discard_telemetry,
    fill_gap,
    kept_telemetry,
    seed_telemetry,
    stored_table,
)

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)
SCALE = 0.01


def _count(engine: KqlEngine, source: str) -> int:
    row = engine.connection.cursor().execute(f"SELECT count(*) FROM {source}").fetchone()
    assert row is not None
    return int(row[0])


def test_views_show_every_log_analytics_column_over_the_compact_store() -> None:
    engine = KqlEngine()
    seed_telemetry(engine, NOW, scale=SCALE)
    views = {
        str(row[0])
        for row in engine.connection.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'main'"
        ).fetchall()
    }
    assert {"AppRequests", "AppDependencies", "AppTraces"} <= views
    for table, columns in TABLES.items():
        found = engine.connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = $table ORDER BY ordinal_position",
            {"table": table},
        ).fetchall()
        assert [(str(name), str(kind)) for name, kind in found] == columns
        assert _count(engine, f'"{table}"') == _count(engine, stored_table(table)) > 0
    stored = engine.connection.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = $schema AND table_name = 'AppRequests'",
        {"schema": STORE_SCHEMA},
    ).fetchall()
    assert "Url" not in {row[0] for row in stored}  # computed when read, never written


def test_a_file_of_the_older_layout_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.duckdb"
    older = KqlEngine(path)
    for table, columns in TABLES.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in columns)
        older.connection.execute(f'CREATE TABLE "{table}" ({body})')
    older.connection.execute("CREATE SCHEMA opsconsole_meta")
    older.connection.execute("CREATE TABLE opsconsole_meta.telemetry (key VARCHAR PRIMARY KEY, value VARCHAR)")
    older.connection.execute("INSERT INTO opsconsole_meta.telemetry VALUES ('version', '2'), ('scale', '0.01')")
    older.close()

    engine = KqlEngine(path)
    create_tables(engine.connection)  # what loading the engine does before looking at the file
    assert kept_telemetry(engine, NOW, SCALE) is None
    discard_telemetry(engine)
    seed_telemetry(engine, NOW, scale=SCALE)
    assert _count(engine, "AppRequests") > 0
    assert {table for table, _ in engine.schema().items()} >= set(TABLES)
    engine.close()


def test_a_restart_writes_the_gap_into_the_store_and_drops_what_is_too_old(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.duckdb"
    engine = KqlEngine(path)
    seed_telemetry(engine, NOW, scale=SCALE)
    engine.close()

    later = NOW + dt.timedelta(days=2)
    engine = KqlEngine(path)
    create_tables(engine.connection)
    kept = kept_telemetry(engine, later, SCALE)
    assert kept is not None
    until = fill_gap(engine, kept, later, SCALE)
    assert until == later.replace(tzinfo=None)
    newest, oldest = engine.connection.execute(
        f"SELECT max(TimeGenerated), min(TimeGenerated) FROM {stored_table('AppRequests')}"
    ).fetchone() or (None, None)
    assert newest is not None and newest > NOW.replace(tzinfo=None) + dt.timedelta(days=1)
    assert oldest is not None and oldest >= until - dt.timedelta(days=8)
    engine.close()


def test_discarding_leaves_empty_views_that_a_new_seed_fills() -> None:
    engine = KqlEngine()
    seed_telemetry(engine, NOW, scale=SCALE)
    seeded = _count(engine, "AppRequests")
    discard_telemetry(engine)
    assert all(_count(engine, f'"{table}"') == 0 for table in TABLES)
    seed_telemetry(engine, NOW, scale=SCALE)
    assert _count(engine, "AppRequests") == seeded
