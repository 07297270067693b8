"""Property tests: a bound parameter reaches the real KQL engine as exactly its value, never as query text."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import duckdb_kql
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from console.runbooks import Parameter, RunbookError, Step, bound_query, parse_value, render_prelude

CON = duckdb_kql.connect()
STEP = Step(name="print", kql="print v = p")
# Pieces of query syntax and awkward characters, glued together by the strategies below.
HOSTILE = [*"\"'\\\n\t|;`@$()[]{},=\u2028\u0085é漢😀\x7f\x01", '\\"', "\r\n", "//", "/*", "*/", "let", "h'"]
hostile_text = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=3), max_size=12).map("".join)
any_text = (hostile_text | st.text()).filter(lambda text: "\x00" not in text)
# Real offsets are whole minutes; ISO 8601 text cannot carry a sub-minute one exactly.
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda minutes: timedelta(minutes=minutes))
aware_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.builds(timezone, offsets),
)
timespans = st.timedeltas(min_value=timedelta(days=-100_000), max_value=timedelta(days=100_000))


def engine_value(type_: str, value: Any) -> Any:
    """Bind `value` as parameter `p`, run `print v = p`, and return the single value printed."""
    parameter = Parameter("p", type_)
    prelude = render_prelude([parameter], {"p": value})
    query = bound_query(STEP, prelude)
    assert query == prelude + STEP.kql
    assert query.count("\n") == prelude.count("\n") + STEP.kql.count("\n")
    result = duckdb_kql.arrow(CON, query)
    table = result.read_all() if isinstance(result, pa.RecordBatchReader) else result
    assert table.column_names == ["v"]
    assert table.num_rows == 1
    return table.column("v")[0].as_py()


@settings(max_examples=300, deadline=None)
@given(any_text)
@example('"; print x = 1 //')
@example('\\"\n| take 0\n//')
@example("a\\")
@example("x\"\n;let p = 'evil';")
def test_strings_round_trip_through_the_engine(value: str) -> None:
    assert engine_value("string", parse_value(Parameter("p", "string"), value)) == value


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_ints_round_trip(value: int) -> None:
    assert engine_value("int", parse_value(Parameter("p", "int"), str(value))) == value


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
@example(-(2**63))
def test_longs_round_trip(value: int) -> None:
    assert engine_value("long", parse_value(Parameter("p", "long"), str(value))) == value


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False))
@example(5e-324)
@example(1.7976931348623157e308)
def test_reals_round_trip(value: float) -> None:
    printed = engine_value("real", parse_value(Parameter("p", "real"), repr(value)))
    assert printed == value and math.copysign(1, printed) in (1, math.copysign(1, value))


@given(st.booleans())
def test_bools_round_trip(value: bool) -> None:
    assert engine_value("bool", parse_value(Parameter("p", "bool"), str(value).lower())) is value


@settings(max_examples=200, deadline=None)
@given(aware_datetimes)
def test_datetimes_round_trip_as_utc(value: datetime) -> None:
    bound = parse_value(Parameter("p", "datetime"), value.isoformat())
    assert bound == value and bound.tzinfo is UTC  # type: ignore[union-attr]
    assert engine_value("datetime", bound) == value.astimezone(UTC).replace(tzinfo=None)


@settings(max_examples=200, deadline=None)
@given(timespans)
@example(timedelta(microseconds=-1))
@example(timedelta(days=1, microseconds=1))
def test_timespans_round_trip(value: timedelta) -> None:
    printed = engine_value("timespan", value)
    assert printed.months == 0
    assert timedelta(days=printed.days, microseconds=printed.nanoseconds // 1000) == value
    assert printed.nanoseconds % 1000 == 0


@settings(max_examples=200, deadline=None)
@given(timespans)
def test_timespan_text_forms_parse_back(value: timedelta) -> None:
    literal = render_prelude([Parameter("p", "timespan")], {"p": value})
    spelled = literal.split("timespan(", 1)[1].rsplit(")", 1)[0]
    assert parse_value(Parameter("p", "timespan"), spelled) == value


@settings(max_examples=150, deadline=None)
@given(st.lists(any_text, max_size=5))
def test_string_lists_round_trip_as_dynamic(values: list[str]) -> None:
    printed = engine_value("list[string]", tuple(values))
    assert json.loads(printed) == values


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-(2**53), max_value=2**53) | st.booleans(), max_size=5))
def test_long_and_bool_lists_round_trip(values: list[int | bool]) -> None:
    longs = tuple(v for v in values if not isinstance(v, bool))
    bools = tuple(v for v in values if isinstance(v, bool))
    assert json.loads(engine_value("list[long]", longs)) == list(longs)
    assert json.loads(engine_value("list[bool]", bools)) == list(bools)


@pytest.mark.parametrize(
    ("type_", "value", "words"),
    [
        ("string", "a\x00b", "NUL character"),
        ("string", "\ud800", "not valid Unicode"),
        ("list[string]", ("ok", "\x00"), "NUL character"),
        ("real", math.nan, "NaN"),
        ("list[real]", (math.inf,), "infinite"),
        ("int", 2**31, "out of range"),
        ("long", 2**63, "out of range"),
        ("timespan", timedelta(days=100_001), "longer than"),
        ("datetime", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "years 0001 to 9999"),
    ],
)
def test_values_the_engine_cannot_hold_are_refused_at_binding(type_: str, value: Any, words: str) -> None:
    with pytest.raises(RunbookError) as caught:
        render_prelude([Parameter("p", type_)], {"p": value})
    assert "parameter 'p'" in caught.value.message and words in caught.value.message
