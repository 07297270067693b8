"""Runbook parsing, checks, binding, and the shipped runbooks against the real KQL engine."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb_kql
import pyarrow as pa
import pytest

from console.models import Column, QueryResult
from console.runbooks import (
    Check,
    Parameter,
    Runbook,
    RunbookError,
    bind_parameters,
    bound_query,
    kql_literal,
    load_runbooks,
    parse_check,
    parse_runbook,
    parse_value,
    render_prelude,
    shipped_runbooks_dir,
)

GOOD = textwrap.dedent(
    """\
    ---
    title: Checkout health
    description: Is checkout failing?
    tags: [appservice, checkout]
    workspace: law-ops-prod
    parameters:
      - name: app
        type: string
        default: app-checkout-prod
        description: The app.
        allowed: [app-checkout-prod, app-catalog-prod]
      - name: window
        type: timespan
        default: 30m
      - name: threshold
        type: real
        default: 5
      - name: codes
        type: list[string]
        default: ["500", "503"]
      - name: since
        type: datetime
    ---
    # Checkout health

    Look at the failures first.

    ```kql name="failures" check="rows == 0"
    AppRequests
    | where AppRoleName == app and ResultCode in (codes)
    ```

    Then the rate.

    ```kql check='value(failure_pct) <= threshold'
    AppRequests | summarize failure_pct = 100.0 * countif(Success == false) / count()
    ```

    ```text
    not a step
    ```

    ```kql name='any 500' check='any(ResultCode == "500")'
    AppRequests | take 10
    ```
    """
)


def parse(text: str) -> Runbook:
    return parse_runbook(text, "example", Path("example.md"))


def error_of(text: str) -> RunbookError:
    with pytest.raises(RunbookError) as caught:
        parse(text)
    return caught.value


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------


def test_good_runbook_parses_every_part() -> None:
    runbook = parse(GOOD)
    assert runbook.name == "example"
    assert runbook.title == "Checkout health"
    assert runbook.description == "Is checkout failing?"
    assert runbook.tags == ("appservice", "checkout")
    assert runbook.workspace == "law-ops-prod"
    assert runbook.path == Path("example.md")
    assert [p.name for p in runbook.parameters] == ["app", "window", "threshold", "codes", "since"]
    app, window, threshold, codes, since = runbook.parameters
    assert app.allowed == ("app-checkout-prod", "app-catalog-prod")
    assert window.default == timedelta(minutes=30)
    assert threshold.default == 5.0 and isinstance(threshold.default, float)
    assert codes.is_list and codes.element_type == "string" and codes.default == ("500", "503")
    assert since.required
    assert [s.name for s in runbook.steps] == ["failures", "Step 2", "any 500"]
    first, second, third = runbook.steps
    assert first.kql == "AppRequests\n| where AppRoleName == app and ResultCode in (codes)"
    assert first.line == 28
    assert first.prose == "# Checkout health\n\nLook at the failures first."
    assert first.check == Check("rows == 0", "rows", "==", expected=0)
    assert second.check is not None and second.check.parameter == "threshold"
    assert third.check == Check('any(ResultCode == "500")', "any", "==", expected="500", column="ResultCode")
    assert "not a step" in runbook.prose


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("title: x\n---\n```kql\nT\n```\n", 1, "starts with a front-matter block"),
        ("---\ntitle: x\n```kql\nT\n```\n", 1, "never closed"),
        ("---\ntitle: [unclosed\ntags: x\n---\n```kql\nT\n```\n", 3, "not valid YAML"),
        ("---\ntitle: ok\ntags: [a]\n  bad: indent\n---\n```kql\nT\n```\n", 4, "not valid YAML"),
        ("---\ndescription: no title\n---\n```kql\nT\n```\n", 1, "no title"),
        ("---\ntitle: x\ntitel: y\n---\n```kql\nT\n```\n", 3, "unknown front-matter key 'titel'"),
        ("---\ntitle: x\ntitle: y\n---\n```kql\nT\n```\n", 3, "given twice"),
        (
            "---\ntitle: x\nparameters:\n  - name: a\n    type: string\n  - name: b\n    type: float\n---\n"
            "```kql\nT\n```\n",
            7,
            "unknown type 'float'",
        ),
        (
            "---\ntitle: x\nparameters:\n  - name: n\n    type: int\n    default: lots\n---\n```kql\nT\n```\n",
            6,
            "parameter 'n' must be a whole number",
        ),
        (
            "---\ntitle: x\nparameters:\n  - name: where\n    type: int\n---\n```kql\nT\n```\n",
            4,
            "KQL keyword",
        ),
        (
            "---\ntitle: x\nparameters:\n  - name: w\n    type: timespan\n    default: 1:30:00\n---\n```kql\nT\n```\n",
            6,
            "quoted string",
        ),
        (
            "---\ntitle: x\nparameters:\n  - name: a\n    type: string\n    default: c\n    allowed: [a, b]\n"
            "---\n```kql\nT\n```\n",
            6,
            "allowed values: a, b",
        ),
        ('---\ntitle: x\n---\nprose\n\n```kql check="rows = 0"\nT\n```\n', 6, "check 'rows = 0'"),
        ('---\ntitle: x\n---\n```kql check="max(x) < y"\nT\n```\n', 4, "neither a literal nor a parameter"),
        ('---\ntitle: x\n---\n```kql colour="red"\nT\n```\n', 4, "unknown step attribute"),
        ('---\ntitle: x\n---\n```kql name="a"\nT\n```\n```kql name="a"\nT\n```\n', 7, "two steps"),
        ("---\ntitle: x\n---\nprose\n```kql\nT\n", 5, "never closed"),
        ("---\ntitle: x\n---\n```kql\n\n```\n", 4, "has no query"),
        ("---\ntitle: x\n---\nonly prose\n", 4, "no ```kql steps"),
    ],
)
def test_errors_name_the_file_line(text: str, line: int, words: str) -> None:
    error = error_of(text)
    assert error.line == line
    assert words in error.message
    assert str(error).startswith(f"example.md:{line}: ")


@pytest.mark.parametrize(
    "check",
    [
        "rows = 0",
        "rows == ",
        "rows == 'a'",
        "max(col) < 'a'",
        "max(col < 3",
        "value(a, b) == 1",
        "any(col) == 1",
        "sum(col) > 1",
        "__import__('os').system('x') == 0",
        "rows == 0 or True",
        "rows == 0; rows == 1",
        "",
    ],
)
def test_bad_checks_are_refused_with_a_sentence(check: str) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_check(check)
    assert "write rows OP N" in caught.value.message


def test_checks_parse_each_form() -> None:
    assert parse_check("rows > 0") == Check("rows > 0", "rows", ">", expected=0)
    assert parse_check("max(p95_ms) < 1.5e3") == Check("max(p95_ms) < 1.5e3", "max", "<", 1500.0, "p95_ms")
    assert parse_check("min(n)>=-2").expected == -2
    assert parse_check("value(ok) == true").expected is True
    assert parse_check("any(Code != 'a\\'b')").expected == "a'b"


# --------------------------------------------------------------------------------------------------
# Checks on tables
# --------------------------------------------------------------------------------------------------

TABLE = pa.table(
    {
        "Name": ["GET /cart", "POST /checkout", "GET /health"],
        "p95_ms": [120.0, 1480.5, 8.0],
        "requests": pa.array([100, 40, 5], pa.int64()),
        "ResultCode": ["200", "500", "200"],
    }
)


@pytest.mark.parametrize(
    ("check", "passed", "observed"),
    [
        ("rows == 3", True, 3),
        ("rows == 0", False, 3),
        ("max(p95_ms) < 1000", False, 1480.5),
        ("max(p95_ms) < 1500", True, 1480.5),
        ("min(requests) >= 5", True, 5),
        ("min(requests) > 5", False, 5),
        ('any(ResultCode == "500")', True, 1),
        ('any(ResultCode == "503")', False, 0),
        ("any(requests > 50)", True, 1),
    ],
)
def test_checks_evaluate_on_tables(check: str, passed: bool, observed: Any) -> None:
    outcome = parse_check(check).evaluate(TABLE)
    assert (outcome.passed, outcome.observed) == (passed, observed)
    assert outcome.sentence.startswith(check)
    assert ("held" if passed else "failed") in outcome.sentence


def test_value_needs_one_row_and_reads_it() -> None:
    one = pa.table({"failure_pct": [2.5]})
    assert parse_check("value(failure_pct) <= 5").evaluate(one).passed
    three_rows = TABLE.rename_columns(["failure_pct", "a", "b", "c"])
    outcome = parse_check("value(failure_pct) <= 5").evaluate(three_rows)
    assert not outcome.passed and "one-row result" in outcome.sentence and "3 rows" in outcome.sentence


def test_missing_column_is_told_plainly() -> None:
    outcome = parse_check("max(P95_ms) < 10").evaluate(TABLE)
    assert not outcome.passed and outcome.observed is None
    assert "no column 'P95_ms' (did you mean p95_ms?)" in outcome.sentence
    assert "Name, p95_ms, requests, ResultCode" in outcome.sentence


def test_empty_and_nan_have_no_value() -> None:
    empty = pa.table({"p95_ms": pa.array([], pa.float64())})
    assert "has no value" in parse_check("max(p95_ms) < 10").evaluate(empty).sentence
    nan = pa.table({"failure_pct": [float("nan")]})
    outcome = parse_check("value(failure_pct) < 5").evaluate(nan)
    assert not outcome.passed and "has no value" in outcome.sentence


def test_type_mismatch_is_a_sentence_not_an_error() -> None:
    outcome = parse_check("max(Name) < 5").evaluate(TABLE)
    assert not outcome.passed and "not numbers" in outcome.sentence
    outcome = parse_check("any(ResultCode == 500)").evaluate(TABLE)
    assert not outcome.passed and "cannot be compared" in outcome.sentence


def test_check_against_a_parameter_and_a_query_result() -> None:
    table = pa.table({"failure_pct": [7.5]})
    result = QueryResult(columns=(Column("failure_pct", "real"),), table=table, duration_ms=1.0)
    check = parse_check("value(failure_pct) <= threshold")
    outcome = check.evaluate(result, {"threshold": 5.0})
    assert not outcome.passed and outcome.observed == 7.5
    assert "(threshold is 5.0)" in outcome.sentence
    assert check.evaluate(result, {"threshold": 10.0}).passed
    assert "has no value" in check.evaluate(result).sentence


# --------------------------------------------------------------------------------------------------
# Binding
# --------------------------------------------------------------------------------------------------


def test_bind_applies_defaults_and_parses_text() -> None:
    runbook = parse(GOOD)
    raw = {"since": "2026-11-26T11:00:00+01:00", "window": "PT2H", "codes": "500, 502"}
    values = bind_parameters(runbook, raw)
    assert values == {
        "app": "app-checkout-prod",
        "window": timedelta(hours=2),
        "threshold": 5.0,
        "codes": ("500", "502"),
        "since": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    }
    prelude = render_prelude(runbook.parameters, values)
    assert prelude == (
        'let app = "app-checkout-prod";\n'
        "let window = timespan(02:00:00);\n"
        "let threshold = real(5.0);\n"
        'let codes = dynamic(["500", "502"]);\n'
        "let since = datetime(2026-11-26T10:00:00.0000000Z);\n"
    )
    step = runbook.steps[0]
    assert bound_query(step, prelude) == prelude + step.kql


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"since": "2026-01-01", "colour": "red"}, "has no parameter 'colour'"),
        ({}, "parameter 'since' is required"),
        ({"since": "yesterday"}, "parameter 'since' must be an ISO 8601 time"),
        ({"since": "2026-01-01", "window": "soon"}, "parameter 'window' must be a duration"),
        ({"since": "2026-01-01", "threshold": "high"}, "parameter 'threshold' must be a number"),
        ({"since": "2026-01-01", "threshold": "nan"}, "parameter 'threshold' must be a number"),
        ({"since": "2026-01-01", "threshold": "1e999"}, "too large"),
        ({"since": "2026-01-01", "app": "app-payments-prod"}, "allowed values: app-checkout-prod"),
        ({"since": "2026-01-01", "codes": '["500", 3]'}, "parameter 'codes' must be text"),
        ({"since": "2026-01-01", "app": "a\x00b"}, "NUL character"),
        ({"since": "2026-01-01", "window": "200000d"}, "longer than 100000 days"),
    ],
)
def test_bind_rejects_bad_values_by_name_and_type(raw: dict[str, str], words: str) -> None:
    with pytest.raises(RunbookError) as caught:
        bind_parameters(parse(GOOD), raw)
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h", timedelta(hours=1)),
        ("30m", timedelta(minutes=30)),
        ("2d", timedelta(days=2)),
        ("45s", timedelta(seconds=45)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5h", timedelta(minutes=90)),
        ("00:15:00", timedelta(minutes=15)),
        ("1.02:03:04.5", timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("-00:05", timedelta(minutes=-5)),
        ("PT1H", timedelta(hours=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("pt30m", timedelta(minutes=30)),
    ],
)
def test_timespan_inputs(text: str, expected: timedelta) -> None:
    assert parse_value(Parameter("w", "timespan"), text) == expected


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        ("int", "-2147483648", -(2**31)),
        ("long", "9223372036854775807", 2**63 - 1),
        ("bool", "Yes", True),
        ("bool", "false", False),
        ("real", "-inf", float("-inf")),
        ("datetime", "2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),
        ("list[int]", "[1, 2]", (1, 2)),
        ("list[bool]", "true,false", (True, False)),
        ("list[string]", "", ()),
    ],
)
def test_scalar_inputs(type_: str, text: str, expected: Any) -> None:
    assert parse_value(Parameter("p", type_), text) == expected


@pytest.mark.parametrize(("type_", "text"), [("int", "2147483648"), ("int", "1.0"), ("long", "1e3"), ("bool", "maybe")])
def test_scalar_inputs_refused(type_: str, text: str) -> None:
    with pytest.raises(RunbookError, match="parameter 'p'"):
        parse_value(Parameter("p", type_), text)


def test_literals_check_the_value_type() -> None:
    with pytest.raises(RunbookError, match="must be a whole number"):
        kql_literal("int", True, "n")
    with pytest.raises(RunbookError, match="must be text"):
        kql_literal("string", 3, "s")
    with pytest.raises(RunbookError, match="cannot be a parameter name"):
        render_prelude([Parameter("bad name", "int")], {"bad name": 1})
    assert kql_literal("string", 'a"b\\c\nd\te\r') == '"a\\"b\\\\c\\nd\\te\\r"'
    assert kql_literal("real", float("inf")) == "real(+inf)"
    assert kql_literal("timespan", timedelta(days=-1, microseconds=1)) == "timespan(-23:59:59.9999990)"


# --------------------------------------------------------------------------------------------------
# The shipped runbooks on the real engine
# --------------------------------------------------------------------------------------------------

# Workspace-based Azure Monitor tables, with the columns the runbooks use.
TABLES: dict[str, str] = {
    "AppRequests": "TimeGenerated TIMESTAMP, _ResourceId VARCHAR, AppRoleName VARCHAR, Name VARCHAR,"
    " Url VARCHAR, ResultCode VARCHAR, Success BOOLEAN, DurationMs DOUBLE, OperationId VARCHAR,"
    " Properties JSON",
    "AppDependencies": "TimeGenerated TIMESTAMP, AppRoleName VARCHAR, Target VARCHAR, DependencyType VARCHAR,"
    " Name VARCHAR, Success BOOLEAN, ResultCode VARCHAR, DurationMs DOUBLE, OperationId VARCHAR",
    "AppExceptions": "TimeGenerated TIMESTAMP, AppRoleName VARCHAR, ExceptionType VARCHAR,"
    " OuterMessage VARCHAR, ProblemId VARCHAR, OperationId VARCHAR, SeverityLevel INTEGER",
    "AppTraces": "TimeGenerated TIMESTAMP, AppRoleName VARCHAR, Message VARCHAR, SeverityLevel INTEGER",
    "Heartbeat": "TimeGenerated TIMESTAMP, Computer VARCHAR, Category VARCHAR, OSType VARCHAR,"
    " _ResourceId VARCHAR, ResourceGroup VARCHAR, SubscriptionId VARCHAR",
    "AzureActivity": "TimeGenerated TIMESTAMP, OperationNameValue VARCHAR, ActivityStatusValue VARCHAR,"
    " ActivitySubstatusValue VARCHAR, Caller VARCHAR, CategoryValue VARCHAR, Level VARCHAR,"
    " _ResourceId VARCHAR, ResourceGroup VARCHAR, SubscriptionId VARCHAR, ResourceProviderValue VARCHAR",
    "AzureDiagnostics": "TimeGenerated TIMESTAMP, ResourceId VARCHAR, Category VARCHAR,"
    " OperationName VARCHAR, ResultType VARCHAR, DurationMs DOUBLE, ResourceProvider VARCHAR,"
    " Resource VARCHAR",
}
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SHIPPED = load_runbooks(shipped_runbooks_dir())


def run_kql(con: Any, query: str) -> pa.Table:
    result = duckdb_kql.arrow(con, query, query_now=NOW)
    return result.read_all() if isinstance(result, pa.RecordBatchReader) else result


def empty_connection() -> Any:
    """A connection with the local Log Analytics' KQL functions (the library's tables extended, the macros made)."""
    from console.emulator import kql_extensions

    con = duckdb_kql.connect()
    kql_extensions.prepare(con)
    for table, columns in TABLES.items():
        con.execute(f'CREATE TABLE "{table}" ({columns})')
    return con


@pytest.fixture(scope="module")
def empty_db() -> Iterator[Any]:
    con = empty_connection()
    yield con
    con.close()


@pytest.fixture(scope="module")
def checkout_db() -> Iterator[Any]:
    """A few minutes of checkout traffic: production healthy, staging running the bad build."""
    con = empty_connection()
    rows = []
    for index in range(100):
        rows.append((index, "production", "2026.11.4", index != 0, 110.0 + index % 7))
    for index in range(50):
        rows.append((index, "staging", "2026.11.5-rc1", index % 5 != 0, 640.0 + 10 * (index % 25)))
    con.executemany(
        "INSERT INTO AppRequests VALUES (?, '/x', 'app-checkout-prod', 'POST /checkout', 'u', ?, ?, ?, ?, ?)",
        [
            (
                (NOW - timedelta(seconds=5 + index * 3)).replace(tzinfo=None),
                "200" if ok else "500",
                ok,
                duration,
                f"op-{slot}-{index}",
                f'{{"slot": "{slot}", "build": "{build}"}}',
            )
            for index, slot, build, ok, duration in rows
        ],
    )
    yield con
    con.close()


def test_at_least_ten_runbooks_ship_and_have_checks() -> None:
    assert len(SHIPPED) >= 10
    assert len({runbook.name for runbook in SHIPPED}) == len(SHIPPED)
    for runbook in SHIPPED:
        assert runbook.title and runbook.description and runbook.tags
        assert any(step.check is not None for step in runbook.steps), runbook.name
        for parameter in runbook.parameters:
            assert parameter.description, f"{runbook.name}.{parameter.name}"


@pytest.mark.parametrize("runbook", SHIPPED, ids=lambda runbook: runbook.name)
def test_shipped_steps_parse_translate_and_run(runbook: Runbook, empty_db: Any) -> None:
    values = bind_parameters(runbook, {})
    prelude = render_prelude(runbook.parameters, values)
    schema = {table: [spec.split()[0] for spec in columns.split(",")] for table, columns in TABLES.items()}
    for step in runbook.steps:
        query = bound_query(step, prelude)
        assert duckdb_kql.validate(query) == [], step.name
        duckdb_kql.to_sql(query, schema=schema)
        table = run_kql(empty_db, query)
        if step.check is not None:
            outcome = step.check.evaluate(table, values)
            assert "cannot be checked" not in outcome.sentence, outcome.sentence


def shipped(name: str) -> Runbook:
    return next(runbook for runbook in SHIPPED if runbook.name == name)


def outcomes(con: Any, runbook: Runbook, raw: dict[str, str]) -> dict[str, bool]:
    values = bind_parameters(runbook, raw)
    prelude = render_prelude(runbook.parameters, values)
    return {
        step.name: step.check.evaluate(run_kql(con, bound_query(step, prelude)), values).passed
        for step in runbook.steps
        if step.check is not None
    }


def test_slot_health_is_green_for_production_and_red_for_the_bad_build(checkout_db: Any) -> None:
    runbook = shipped("slot-health")
    green = {"requests in slot": True, "failure rate": True, "p95 latency": True}
    assert outcomes(checkout_db, runbook, {}) == green
    assert outcomes(checkout_db, runbook, {"slot": "staging"}) == {
        "requests in slot": True,
        "failure rate": False,
        "p95 latency": True,
    }
    assert outcomes(checkout_db, runbook, {"slot": "staging", "max_p95_ms": "500"})["p95 latency"] is False
    later = (NOW + timedelta(minutes=1)).isoformat()
    assert outcomes(checkout_db, runbook, {"since": later})["requests in slot"] is False


def test_failure_rate_runbook_goes_red_above_threshold(checkout_db: Any) -> None:
    runbook = shipped("app-failure-rate")
    red = outcomes(checkout_db, runbook, {})
    assert red == {"traffic in window": True, "failure rate": False, "failures by slot and build": False}
    assert all(outcomes(checkout_db, runbook, {"threshold": "25"}).values())
    assert outcomes(checkout_db, runbook, {"app": "app-catalog-prod"})["traffic in window"] is False
