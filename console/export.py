"""Write an Arrow table to CSV, JSON lines or Parquet in chunks, reporting progress as rows are written."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from console.durations import iso_utc
from console.errors import ErrorKind, OpsError

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}
"""File extensions the exporter understands, and the format each one means."""

DEFAULT_CHUNK_ROWS = 65_536

Progress = Callable[[int, int], None]
"""Called with (rows written, total rows) after every chunk."""


class ExportCancelledError(Exception):
    """The caller's `should_stop` said stop; the partial file was removed."""


def format_for(path: Path) -> str:
    """The export format a file name asks for, or an OpsError naming the ones supported."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        known = ", ".join(sorted(FORMATS))
        raise OpsError(ErrorKind.BAD_REQUEST, f"Cannot tell the export format from {path.name!r}; use one of {known}.")
    return found


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _batches(table: pa.Table, chunk_rows: int) -> list[pa.RecordBatch]:
    batches: list[pa.RecordBatch] = table.to_batches(max_chunksize=max(1, chunk_rows))
    return batches


def export_table(
    table: pa.Table,
    path: Path,
    *,
    fmt: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    json_columns: Collection[str] = (),
) -> int:
    """Write `table` to `path` (format from the suffix unless `fmt`), atomically; returns the rows written.

    `json_columns` names string columns that hold JSON (Log Analytics `dynamic`): JSON lines embeds them
    as values rather than strings.
    """
    fmt = fmt or format_for(path)
    if fmt not in {"csv", "jsonl", "parquet"}:
        raise OpsError(ErrorKind.BAD_REQUEST, f"Unknown export format {fmt!r}; use csv, jsonl or parquet.")
    if path.is_dir():
        raise OpsError(ErrorKind.BAD_REQUEST, f"{path} is a directory; give a file name.")
    if not path.parent.exists():
        raise OpsError(ErrorKind.BAD_REQUEST, f"The folder {path.parent} does not exist.")
    total = int(table.num_rows)
    temporary = path.with_name(f".{path.name}.partial")
    written = 0

    def advance(rows: int) -> None:
        nonlocal written
        written += rows
        if progress is not None:
            progress(written, total)
        if should_stop is not None and should_stop():
            raise ExportCancelledError(f"Export stopped after {written:,} of {total:,} rows.")

    try:
        if fmt == "csv":
            _write_csv(table, temporary, chunk_rows, advance)
        elif fmt == "jsonl":
            _write_jsonl(table, temporary, chunk_rows, advance, set(json_columns))
        else:
            _write_parquet(table, temporary, chunk_rows, advance)
        os.replace(temporary, path)
    except ExportCancelledError:
        temporary.unlink(missing_ok=True)
        raise
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OpsError(ErrorKind.BAD_REQUEST, f"Could not write {path}: {error.strerror or error}.") from error
    if total == 0 and progress is not None:
        progress(0, 0)
    return written


def _write_csv(table: pa.Table, path: Path, chunk_rows: int, advance: Callable[[int], None]) -> None:
    import pyarrow.csv as pacsv

    with pacsv.CSVWriter(str(path), table.schema) as writer:
        for batch in _batches(table, chunk_rows):
            writer.write_batch(batch)
            advance(batch.num_rows)


def _write_jsonl(
    table: pa.Table, path: Path, chunk_rows: int, advance: Callable[[int], None], json_columns: set[str]
) -> None:
    names = table.column_names
    embedded = [name in json_columns for name in names]
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for batch in _batches(table, chunk_rows):
            columns = [column.to_pylist() for column in batch.columns]
            if any(embedded):
                columns = [
                    [_embed(value) for value in values] if wanted else values
                    for values, wanted in zip(columns, embedded, strict=True)
                ]
            lines = [
                json.dumps(dict(zip(names, row, strict=True)), default=_json_default, ensure_ascii=False)
                for row in zip(*columns, strict=True)
            ]
            if lines:
                handle.write("\n".join(lines) + "\n")
            advance(batch.num_rows)


def _embed(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _write_parquet(table: pa.Table, path: Path, chunk_rows: int, advance: Callable[[int], None]) -> None:
    import pyarrow.parquet as pq

    with pq.ParquetWriter(str(path), table.schema) as writer:
        for batch in _batches(table, chunk_rows):
            writer.write_batch(batch)
            advance(batch.num_rows)


def text_cells(values: pa.Array | pa.ChunkedArray) -> list[str]:
    """One column as the text the `query` command prints in a cell: "" for null, datetimes as ISO 8601 UTC
    with milliseconds only when there are some, booleans as True/False, numbers as Python writes them."""
    import pyarrow.compute as pc

    column = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind):
        texts = pc.fill_null(pc.cast(column, pa.string()), "")
    elif pa.types.is_boolean(kind):
        texts = pc.fill_null(pc.if_else(column, "True", "False"), "")
    elif pa.types.is_timestamp(kind):
        seconds = pc.floor_temporal(column, unit="second")
        base = pc.strftime(pc.cast(seconds, pa.timestamp("s", tz=kind.tz)), format="%Y-%m-%dT%H:%M:%S")
        millis = pc.millisecond(column)
        fraction = pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(millis, pa.string()), 3, "0"), "Z", "")
        whole = pc.or_(pc.not_equal(millis, 0), pc.not_equal(pc.microsecond(column), 0))
        texts = pc.fill_null(pc.binary_join_element_wise(base, pc.if_else(whole, fraction, "Z"), ""), "")
    else:  # floats (Python's repr differs from Arrow's) and anything rarer: value by value
        return ["" if value is None else str(value) for value in column.to_pylist()]
    cells: list[str] = texts.to_pylist()
    return cells


def write_csv_text(table: pa.Table, stream: Any, *, chunk_rows: int = 8192) -> int:
    """Write `table` to a text stream as CSV, cell by cell as `text_cells` spells them; returns the rows written.

    Column by column with pyarrow, a few thousand rows at a time, so a big result never becomes a list of
    Python dicts (what printing `table.to_pylist()` row by row costs: several seconds and hundreds of MB).
    """
    import csv

    writer = csv.writer(stream)
    writer.writerow(table.column_names)
    written = 0
    for batch in _batches(table, chunk_rows):
        columns = [text_cells(column) for column in batch.columns]
        writer.writerows(zip(*columns, strict=True))
        written += batch.num_rows
    return written
