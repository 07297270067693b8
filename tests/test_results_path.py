"""The fast results path (body bytes decoded column-wise into Arrow) against the SDK path, on a real local Azure.

The SDK path is `LogsQueryClient.query_workspace` (its per-row objects) followed by the row-wise
conversion `table_from_logs`; both must give the same Arrow table, for every column type the local
Azure produces, for big telemetry answers and for partial ones; errors keep the SDK's meaning.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import EmulatorThread, control, module_azure, use_identity

from console.cloud import local_profile
from console.emulator import estate
from console.errors import ErrorKind, OpsError
from console.export import write_csv_text
from console.models import QueryResult
from console.services import Services, make_services
from console.services.la_arrow import decode_answer
from console.services.logs import QueryProgress, _describe_partial, table_from_logs
from console.settings import Settings

WORKSPACE = estate.WORKSPACE_CUSTOMER_ID

# Every column type the local Azure answers with, and a null of each; NaN and both infinities; a
# datetime before 1970; timespans to the tick, negative ones; dynamic bags and arrays (with `],[`
# inside the text); a long beyond 2^53.
EVERY_TYPE = (
    "datatable(a:int, b:string, c:real, d:datetime, e:timespan, f:dynamic, g:guid, h:bool, i:long, j:decimal)["
    '1, "x", real(nan), datetime(2024-01-01T01:02:03.123456Z), time(1.02:03:04.123456), dynamic({"k":[1,2]}),'
    " guid(9b2c5d1e-0f3a-4c7b-8e6d-1a2b3c4d5e6f), true, 5, 2.5,"
    ' int(null), "", real(null), datetime(null), time(null), dynamic(null), guid(null), bool(null), long(null),'
    " decimal(null),"
    ' -3, "ü\\"q],[", real(-inf), datetime(1969-12-31T23:59:59.5Z), time(00:00:00.000001), dynamic([[1],[2]]),'
    " guid(00000000-0000-0000-0000-000000000000), false, 9223372036854775807, -0.001]"
    ' | extend neg = e - time(2.00:00:00), inf = real(+inf), bag = bag_pack("a", a, "d", d), arr = pack_array(a, b)'
)

EXPECTED_TYPES = {
    "a": ("int", pa.int64()),
    "b": ("string", pa.string()),
    "c": ("real", pa.float64()),
    "d": ("datetime", pa.timestamp("us", tz="UTC")),
    "e": ("timespan", pa.string()),
    "f": ("dynamic", pa.string()),
    "g": ("guid", pa.string()),
    "h": ("bool", pa.bool_()),
    "i": ("long", pa.int64()),
    "j": ("decimal", pa.float64()),
    "neg": ("timespan", pa.string()),
    "inf": ("real", pa.float64()),
    "bag": ("dynamic", pa.string()),
    "arr": ("dynamic", pa.string()),
}


def assert_same_table(fast: pa.Table, reference: pa.Table) -> None:
    """Same names, types, nulls and values; NaN equals NaN (Arrow's own equality says it does not)."""
    assert fast.schema == reference.schema
    assert fast.num_rows == reference.num_rows
    for name in reference.column_names:
        ours, theirs = fast.column(name).combine_chunks(), reference.column(name).combine_chunks()
        assert ours.is_null().equals(theirs.is_null()), name
        if pa.types.is_floating(ours.type):
            assert pc.is_nan(ours).equals(pc.is_nan(theirs)), name
            ours = pc.if_else(pc.is_nan(ours), 0.0, ours)
            theirs = pc.if_else(pc.is_nan(theirs), 0.0, theirs)
        assert ours.equals(theirs), (name, ours.to_pylist()[:5], theirs.to_pylist()[:5])


def canonical(table: pa.Table) -> pa.Table:
    """Rows in one order (rows that tie on the query's sort key may come back in either order)."""
    return table.sort_by([(name, "ascending") for name in table.column_names])


async def sdk_path(services: Services, kql: str) -> tuple[pa.Table, Any]:
    """The SDK's own query and per-row objects, then the row-wise conversion: the reference."""
    response = await services.logs._logs().query_workspace(WORKSPACE, kql, timespan=None)
    partial = getattr(response, "partial_error", None)
    tables = response.partial_data if partial is not None else response.tables
    primary = tables[0]
    names = [str(c) for c in primary.columns]
    types = [str(t) for t in primary.columns_types]
    return table_from_logs(names, types, [list(row) for row in primary.rows]), partial


@pytest.fixture
async def seeded(make_local_services: Callable[..., Services]) -> None:
    """Wait until the session's local Azure has loaded its telemetry, so two queries see the same rows."""
    services = make_local_services()
    try:
        for _ in range(600):
            if (await services.logs.query(WORKSPACE, "AppRequests | take 1", None)).partial_error is None:
                return
            await asyncio.sleep(0.2)
    finally:
        await services.close()
    raise AssertionError("the local Azure never finished loading its telemetry")


async def both_paths(services: Services, kql: str) -> tuple[QueryResult, pa.Table, Any]:
    try:
        fast = await services.logs.query(WORKSPACE, kql, None)
        reference, partial = await sdk_path(services, kql)
    finally:
        await services.close()
    return fast, reference, partial


@pytest.mark.asyncio
async def test_every_column_type_matches_the_sdk_path(make_local_services: Callable[..., Services]) -> None:
    fast, reference, _ = await both_paths(make_local_services(), EVERY_TYPE)
    assert_same_table(fast.table, reference)
    assert {c.name: c.type for c in fast.columns} == {name: la for name, (la, _) in EXPECTED_TYPES.items()}
    assert {f.name: f.type for f in fast.table.schema} == {name: arrow for name, (_, arrow) in EXPECTED_TYPES.items()}
    rows = fast.table.to_pylist()
    first, empty, last = rows
    assert math.isnan(first["c"]) and first["inf"] == math.inf and last["c"] == -math.inf
    assert first["d"].isoformat() == "2024-01-01T01:02:03.123456+00:00"
    assert last["d"].isoformat() == "1969-12-31T23:59:59.500000+00:00"
    assert (first["e"], last["e"], first["neg"]) == ("1.02:03:04.1234560", "00:00:00.0000010", "-21:56:55.8765440")
    assert json.loads(first["f"]) == {"k": [1, 2]} and json.loads(last["f"]) == [[1], [2]]
    assert json.loads(first["bag"]) == {"a": 1, "d": "2024-01-01T01:02:03.1234560Z"}
    assert last["b"] == 'ü"q],[' and json.loads(last["arr"]) == [-3, 'ü"q],[']
    assert (first["j"], last["j"], last["i"]) == (2.5, -0.001, 9223372036854775807)
    assert first["g"] == "9b2c5d1e-0f3a-4c7b-8e6d-1a2b3c4d5e6f" and first["h"] is True and last["h"] is False
    # The second row is null in every column the datatable gave it (the SDK hands null guids out as "None").
    assert [name for name, value in empty.items() if value is not None] == ["b", "inf", "bag", "arr"]
    assert empty["b"] == ""


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "table", ["AppRequests", "AppExceptions", "AppTraces", "AppDependencies", "Heartbeat", "AzureActivity"]
)
@pytest.mark.usefixtures("seeded")
async def test_telemetry_tables_match_the_sdk_path(make_local_services: Callable[..., Services], table: str) -> None:
    # Sorted, so both paths get the same rows in the same order.
    fast, reference, _ = await both_paths(make_local_services(), f"{table} | sort by TimeGenerated asc | take 3000")
    assert fast.row_count > 0
    assert_same_table(canonical(fast.table), canonical(reference))


@pytest.mark.asyncio
async def test_an_empty_answer_has_the_same_typed_columns(make_local_services: Callable[..., Services]) -> None:
    fast, reference, _ = await both_paths(make_local_services(), f"{EVERY_TYPE} | take 0")
    assert fast.row_count == 0
    assert_same_table(fast.table, reference)
    assert fast.table.schema.field("d").type == pa.timestamp("us", tz="UTC")


@pytest.mark.asyncio
@pytest.mark.usefixtures("seeded")
async def test_small_slices_give_the_same_table(make_local_services: Callable[..., Services]) -> None:
    """The body cut into many slices at row boundaries (some candidate cuts fall inside dynamic text)."""
    services = make_local_services()
    kql = (
        "AppRequests | sort by TimeGenerated asc | take 500"
        " | extend tricky = pack_array(pack_array(1), pack_array(2), ']],[[')"
    )
    from azure.core.rest import HttpRequest

    try:
        request = HttpRequest("POST", f"/workspaces/{WORKSPACE}/query", json={"query": kql})
        response = await services.logs._logs().send_request(request)
        body = response.content
        reference, _ = await sdk_path(services, kql)
    finally:
        await services.close()
    for chunk_bytes in (1, 700, 50_000):
        decoded = decode_answer(body, chunk_bytes=chunk_bytes)
        assert decoded.table is not None
        assert_same_table(canonical(decoded.table), canonical(reference))
        assert decoded.table.column("tricky").num_chunks > (1 if chunk_bytes < 50_000 else 0)


@pytest.mark.asyncio
@pytest.mark.usefixtures("seeded")
async def test_a_capped_answer_is_partial_and_the_same(make_local_services: Callable[..., Services]) -> None:
    services = make_local_services()
    heard: list[QueryProgress] = []
    kql = "range x from 1 to 500001 step 1"
    try:
        fast = await services.logs.query(WORKSPACE, kql, None, progress=heard.append)
        reference, partial = await sdk_path(services, kql)
    finally:
        await services.close()
    # Rows were reported as they arrived, before the whole answer was in.
    arriving = [p.rows for p in heard if p.phase == "receiving"]
    assert any(0 < rows < 500_000 for rows in arriving), arriving
    assert arriving == sorted(arriving) and heard[0].phase == "running"
    assert heard[-1].phase == "done" and heard[-1].rows == 500_000 and heard[-1].bytes_received > 0
    assert "500,000 rows" in heard[-1].sentence()
    assert partial is not None
    assert fast.truncated and fast.row_count == 500_000
    assert (fast.partial_error, fast.truncated) == _describe_partial(partial)
    assert "500,000" in (fast.partial_error or "")
    assert_same_table(fast.table, reference)


@pytest.mark.asyncio
async def test_an_answer_cut_at_the_size_cap_is_partial_and_whole_rows(
    make_local_services: Callable[..., Services],
) -> None:
    """The local Azure cuts an answer above 64 MB at a row; the rows before the cut all arrive, in order."""
    services = make_local_services()
    try:
        result = await services.logs.query(
            WORKSPACE, 'range x from 1 to 200000 step 1 | extend s = strrep("x", 400)', None
        )
    finally:
        await services.close()
    assert result.truncated and "data size limit 67,108,864 bytes" in (result.partial_error or "")
    assert 100_000 < result.row_count < 200_000
    assert result.table.column("x").to_pylist() == list(range(1, result.row_count + 1))
    assert pc.all(pc.equal(pc.utf8_length(result.table.column("s")), 400)).as_py()


seeding_azure = module_azure("seeding", seed_delay_s=3600)
"""A local Azure that stays in its seeding phase: every answer says data is still arriving."""


@pytest.mark.asyncio
async def test_data_still_arriving_is_partial_and_the_same(
    seeding_azure: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_identity(monkeypatch, seeding_azure)
    services = make_services(Settings(data_dir=tmp_path), profile=local_profile(seeding_azure.readiness))
    # A query that reads a table (one that reads none is complete however far loading has got).
    fast, reference, partial = await both_paths(services, f"union ({EVERY_TYPE}), (AppRequests | take 5)")
    assert fast.row_count >= 3 and fast.table.num_columns > len(EXPECTED_TYPES)
    assert partial is not None and fast.partial_error is not None
    assert "still being loaded" in fast.partial_error and not fast.truncated
    assert (fast.partial_error, fast.truncated) == _describe_partial(partial)
    assert_same_table(fast.table, reference)


@pytest.mark.asyncio
async def test_bad_kql_is_an_ops_error_with_its_position(make_local_services: Callable[..., Services]) -> None:
    services = make_local_services()
    try:
        with pytest.raises(OpsError) as caught:
            await services.logs.query(WORKSPACE, "AppRequests\n| where DurationMs >>> 3", None)
    finally:
        await services.close()
    error = caught.value
    assert error.kind is ErrorKind.BAD_REQUEST
    assert error.position is not None and error.position[0] == 2
    assert error.request_id and "Traceback" not in str(error)


@pytest.mark.asyncio
async def test_throttling_reports_retry_after(
    make_local_services: Callable[..., Services], faults: Callable[[list[dict[str, Any]]], Any]
) -> None:
    faults([{"path": "/query$", "status": 429, "retry_after": 7, "count": 1}])
    services = make_local_services()
    try:
        with pytest.raises(OpsError) as caught:
            await services.logs.query(WORKSPACE, "AppRequests | take 5", None)
        after = await services.logs.query(WORKSPACE, "AppRequests | take 5", None)
    finally:
        await services.close()
    error = caught.value
    assert error.kind is ErrorKind.THROTTLED and error.retry_after == 7.0 and error.request_id
    assert after.row_count == 5


@pytest.mark.asyncio
async def test_a_transient_failure_is_retried_after_its_retry_after(
    make_local_services: Callable[..., Services], faults: Callable[[list[dict[str, Any]]], Any], local_azure: Any
) -> None:
    faults([{"path": "/query$", "status": 503, "retry_after": 1, "count": 1}])
    services = make_local_services(retry_total=2)
    try:
        result = await services.logs.query(WORKSPACE, "AppRequests | take 5", None)
    finally:
        await services.close()
    assert result.row_count == 5
    assert control(local_azure.readiness, "GET") == []  # the 503 was answered, then retried by the pipeline


ODD_ANSWERS: dict[str, tuple[list[str], list[list[Any]]]] = {
    "ticks, NaN, objects, a long beyond 64 bits": (
        ["datetime", "real", "dynamic", "long"],
        [
            ["2024-01-01T00:00:00.1234567Z", "NaN", {"a": [1, 2]}, 1],
            [None, 2, [1], None],
            ["2024-01-02T00:00:00Z", "-Infinity", "text", 2**70],
        ],
    ),
    "datetimes the SDK does not read": (
        ["datetime", "datetime", "long"],
        [["2024-01-01", "2024-01-01 00:00:00Z", 1], [None, "2024-01-01T00:00:00Z", 2]],
    ),
    "datetimes with offsets and a lower-case z": (
        ["datetime", "datetime"],
        [["2024-01-01T00:00:00+01:00", "2024-01-01T00:00:00z"], [None, None]],
    ),
    "numbers as text and text as numbers": (
        ["real", "decimal", "string", "guid", "timespan", "bool"],
        [
            ["1.5", "1_000", 7, None, "00:01:00", True],
            [2.5, None, "x", "g", None, None],
            ["x", "2.5", None, "h", "1.00:00:00", False],
        ],
    ),
}


@pytest.mark.parametrize("case", list(ODD_ANSWERS))
def test_answers_laid_out_or_typed_otherwise_decode_as_the_sdk_path(case: str) -> None:
    """Other layouts and odd values give what the SDK's rows and the row-wise conversion give."""
    from azure.monitor.query._helpers import process_row  # what the SDK does to each row it hands out

    types, rows = ODD_ANSWERS[case]
    names = [f"c{index}" for index in range(len(types))]
    expected = table_from_logs(names, types, [process_row(types, row) for row in rows])
    columns = [{"name": n, "type": t} for n, t in zip(names, types, strict=True)]
    shapes = [
        {"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]},
        {"tables": [{"name": "PrimaryResult", "rows": rows, "columns": columns}], "statistics": {"x": 1}},
    ]
    for shape in shapes:
        for body in (
            json.dumps(shape, separators=(",", ":")).encode(),
            json.dumps(shape).encode(),
            json.dumps(shape, indent=2).encode(),
        ):
            for chunk_bytes in (1, 1 << 20):
                decoded = decode_answer(body, chunk_bytes=chunk_bytes)
                assert decoded.table is not None
                assert_same_table(decoded.table, expected)


def test_seven_digit_datetimes_are_cut_to_microseconds_as_the_sdk_cuts_them() -> None:
    body = json.dumps(
        {
            "tables": [
                {
                    "name": "PrimaryResult",
                    "columns": [{"name": "t", "type": "datetime"}],
                    "rows": [["2024-01-01T00:00:00.1234567Z"], ["1969-12-31T23:59:59.9999999Z"], [None]],
                }
            ]
        },
        separators=(",", ":"),
    ).encode()
    decoded = decode_answer(body)
    assert decoded.table is not None
    assert [v and v.isoformat() for v in decoded.table.column("t").to_pylist()] == [
        "2024-01-01T00:00:00.123456+00:00",
        "1969-12-31T23:59:59.999999+00:00",
        None,
    ]


@pytest.mark.asyncio
async def test_csv_text_is_what_the_query_command_prints(
    make_local_services: Callable[..., Services], capsys: pytest.CaptureFixture[str]
) -> None:
    """`write_csv_text` spells every cell as the `query` command's row-by-row CSV does, column by column."""
    from console.cli import print_rows

    services = make_local_services()
    try:
        every = (await services.logs.query(WORKSPACE, EVERY_TYPE, None)).table
        telemetry = (await services.logs.query(WORKSPACE, "AppRequests | take 300", None)).table
    finally:
        await services.close()
    moments = [
        datetime(2024, 1, 1, 0, 0, 0, 500, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 0, 0, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        None,
    ]
    edges = pa.table(
        {
            "t": pa.array(moments, pa.timestamp("us", tz="UTC")),
            "x": pa.array([1.0, 1e-5, 12345678901234567.0, None]),
            "s": pa.array(['a,"b"', "line\nbreak", " ", None]),
        }
    )
    for table in (every, telemetry, edges):
        print_rows(table.to_pylist(), "csv", table.column_names)
        printed = capsys.readouterr().out
        written = io.StringIO()
        assert write_csv_text(table, written, chunk_rows=100) == table.num_rows
        assert written.getvalue() == printed
