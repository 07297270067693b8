"""More KQL functions of the local Log Analytics: each against the answer the Kusto documentation publishes
for the same call, through the engine and through the real Log Analytics query API; each refusal as a 400
with a sentence; and properties against Python's own computation of the same thing.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import zlib
from typing import Any

import duckdb_kql
import pytest
import xxhash
from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryClient
from duckdb_kql import translate as kql_translate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.emulator import estate, kql_extensions, kql_lambdas, kql_python_functions
from console.emulator.kql_engine import KqlEngine, KqlQueryError

NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _rows(engine: KqlEngine, query: str) -> list[list[Any]]:
    outcome = engine.execute(query, timespan=None, now=NOW)
    assert outcome.error is None
    table = json.loads(outcome.as_la_bytes())["tables"][0]
    return [
        [
            json.loads(value) if column["type"] == "dynamic" and isinstance(value, str) else value
            for column, value in zip(table["columns"], row, strict=True)
        ]
        for row in table["rows"]
    ]


def _value(engine: KqlEngine, expression: str) -> Any:
    return _rows(engine, f"print v = {expression}")[0][0]


def _kql_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


# (expression, the documentation's answer)
DOCUMENTED: list[tuple[str, Any]] = [
    ('zlib_compress_to_base64_string("1234567890qwertyuiop")', "eAEBFADr/zEyMzQ1Njc4OTBxd2VydHl1aW9wOAkGdw=="),
    ('zlib_decompress_from_base64_string("eJwLSS0uUSguKcrMS1cwNDIGACxqBQ4=")', "Test string 123"),
    ('zlib_decompress_from_base64_string("x0x0x0")', ""),
    ('hash("World")', 1846988464401551951),
    ('hash("World", 100)', 51),
    ('hash(datetime("2015-01-01"))', 1380966698541616202),
    ('hash_xxhash64("World")', 1846988464401551951),
    ('hash_xxhash64(datetime("2015-01-01"))', 1380966698541616202),
    ('hash("Hello")', 753694413698530628),
    ('indexof_regex("abcabc", @"a.c")', 0),
    ('indexof_regex("abcabcdefg", @"a.c", 0, 9, 2)', 3),
    ('indexof_regex("abcabc", @"a.c", 1, -1, 2)', -1),
    ('indexof_regex("ababaa", @"a.a", 0, -1, 2)', -1),
    ('indexof_regex("abcabc", @"a|ab", -1)', None),
    ('todecimal("123.45678") == decimal(123.45678)', True),
    ('todecimal("abc")', None),
    (
        'extract_all(@"(?P<first>\\w)(?P<middle>\\w+)(?P<last>\\w)", dynamic(["first",2,"last"]), '
        '"82b8be2d-dfa7-4bd1-8f63-24ad26d31449")',
        [["8", "2b8be2", "d"], ["d", "fa", "7"], ["4", "bd", "1"], ["8", "f6", "3"], ["2", "4ad26d3144", "9"]],
    ),
    (
        "dynamic_to_json(dynamic({'Y10':dynamic({}), 'X8': dynamic({'c3':1, 'd8':5, 'a4':6}), 'D1':114, 'A1':12, "
        "'B1':2, 'C1':3, 'A14':[15, 13, 18]}))",
        '{"A1":12,"A14":[15,13,18],"B1":2,"C1":3,"D1":114,"X8":{"a4":6,"c3":1,"d8":5},"Y10":{}}',
    ),
]


DOCUMENTED += [
    ('ipv4_range_to_cidr_list("1.1.128.0", "1.1.140.255")', ["1.1.128.0/21", "1.1.136.0/22", "1.1.140.0/24"]),
    ("series_iir(dynamic([1.0, 2, 3, 4]), dynamic([1]), dynamic([1, -1]))", [1, 3, 6, 10]),
    ("series_seasonal(dynamic([1, 3, 5, 1, 3, 5, 2, 4, 6]), 3)", [1, 3, 5, 1, 3, 5, 1, 3, 5]),
    ("series_seasonal(dynamic([1, 3, 5, 2, 4, 6, 1, 3, 5, 2, 4, 6]), 3)", [1.5, 3.5, 5.5] * 4),
    ("series_seasonal(dynamic([1, 2]), 0)", [0, 0]),
    # `::a.b.c.d` is the IPv4 address a.b.c.d, its /n an IPv4 prefix (96 + n bits).
    ('parse_ipv6_mask("::192.168.255.255/24", 128)', "0000:0000:0000:0000:0000:ffff:c0a8:ff00"),
    ('parse_ipv6_mask("192.168.255.255", 120)', "0000:0000:0000:0000:0000:ffff:c0a8:ff00"),
    ('parse_ipv6_mask("fe80::85d:e82c:9446:7994/120", 124)', "fe80:0000:0000:0000:085d:e82c:9446:7900"),
    ('parse_ipv6_mask("junk", 10)', ""),
    ('ipv6_compare("::192.168.1.1/30", "192.168.1.255/24")', 0),
    ('ipv6_compare("::ffff:c0a8:0101", "192.168.1.255", 120)', 0),
    ('ipv6_compare("fe80::85d:e82c:9446:7994", "fe80::85d:e82c:9446:7995", 127)', 0),
    ('ipv6_compare("fe80::85d:e82c:9446:7994", "fe80::85d:e82c:9446:7995", 128)', -1),
    ('ipv6_is_match("192.168.1.1/24", "::ffff:c0a8:01ff", 127)', True),
    (
        'ipv6_is_in_any_range("a5e:f127:8a9d:146d:e102:b5d3:c755:abcd", '
        'dynamic(["a5e:f127:8a9d:146d:e102:b5d3:c755:f6cd/112", "0:0:0:0:0:ffff:c0a8:ac/60"]))',
        True,
    ),
    (
        'ipv6_is_in_any_range("a5e:f127:8a9d:146d:e102:b5d3:c756:abd1", "a5e:f127:8a9d:146d:e102:b5d3:c755:f6cd/112")',
        False,
    ),
    ('ipv6_is_in_any_range("junk", "::1/64")', None),
    ("beta_cdf(0.9, 10.0, 20.0)", pytest.approx(0.999999999999959, abs=1e-15)),
    ("beta_cdf(1.5, 10.0, 20.0)", "NaN"),
    ("beta_cdf(double(-10), 10.0, 20.0)", "NaN"),
    ("beta_cdf(0.1, double(-1.0), 20.0)", "NaN"),
    ("beta_inv(0.1, 10.0, 20.0)", pytest.approx(0.226415022388749, abs=1e-15)),
    ("beta_inv(1.5, 10.0, 20.0)", None),
    ("beta_inv(0.1, double(-1.0), 20.0)", "NaN"),
    (
        "range(datetime(2017-01-01), datetime(2017-01-02), 12h)",
        ["2017-01-01T00:00:00.0000000Z", "2017-01-01T12:00:00.0000000Z", "2017-01-02T00:00:00.0000000Z"],
    ),
    ("datetime_local_to_utc(datetime(2020-02-02 20:02:20), 'Europe/Paris')", "2020-02-02T19:02:20Z"),
    ("datetime_local_to_utc(datetime(2020-02-02 20:02:20), 'America/Chicago')", "2020-02-03T02:02:20Z"),
    ("datetime_local_to_utc(datetime(2020-02-02 20:02:20), 'US/Pacific')", "2020-02-03T04:02:20Z"),
    ("datetime_utc_to_local(datetime(2022-07-11 22:18:48.467862), 'US/Pacific')", "2022-07-11T15:18:48.467862Z"),
    (
        "datetime_utc_to_local(datetime(2022-07-11 22:18:48.467862), 'Australia/Canberra')",
        "2022-07-12T08:18:48.467862Z",
    ),
    ("datetime_local_to_utc(datetime(2020-10-25 03:30:00), 'Europe/Paris')", "2020-10-25T02:30:00Z"),
    (r'parse_command_line("echo \"hello world!\"", "windows")', ["echo", "hello world!"]),
    (r'parse_command_line(@"x.exe a\\\\""b c"" d\\e f\\\""g", "windows")', ["x.exe", r"a\\b c", r"d\\e", r"f\"g"]),
    (
        r'parse_path(@"\\shared\users\temp\file.txt.gz")',
        {
            "Scheme": "",
            "RootPath": "",
            "DirectoryPath": r"\\shared\users\temp",
            "DirectoryName": "temp",
            "Filename": "file.txt.gz",
            "Extension": "gz",
            "AlternateDataStreamName": "",
        },
    ),
    (
        'parse_path("file://C:/temp/file.txt:some.exe")',
        {
            "Scheme": "file",
            "RootPath": "C:",
            "DirectoryPath": "C:/temp",
            "DirectoryName": "temp",
            "Filename": "file.txt",
            "Extension": "txt",
            "AlternateDataStreamName": "some.exe",
        },
    ),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_functions_answer_as_the_documentation_does(engine: KqlEngine, expression: str, expected: Any) -> None:
    assert _value(engine, expression) == expected


def test_pack_all_packs_the_input_columns_with_and_without_empty_ones(engine: KqlEngine) -> None:
    rows = _rows(
        engine,
        """datatable(Source:string,Target:string,CharsCount:long)
        ['555-1234','555-1212',46, '555-1313','',42, '','555-3456',74]
        | extend Packed=pack_all(), PackedIgnoreNullEmpty=pack_all(true)""",
    )
    assert [row[3:] for row in rows] == [
        [{"Source": "555-1234", "Target": "555-1212", "CharsCount": 46}] * 2,
        [{"Source": "555-1313", "Target": "", "CharsCount": 42}, {"Source": "555-1313", "CharsCount": 42}],
        [{"Source": "", "Target": "555-3456", "CharsCount": 74}, {"Target": "555-3456", "CharsCount": 74}],
    ]


def test_merged_tdigests_answer_a_typed_percentile_named_as_kusto_names_it(engine: KqlEngine) -> None:
    outcome = engine.execute(
        """range x from 1 to 10 step 1 | extend y = x + 10
        | summarize tdigestX = tdigest(x), tdigestY = tdigest(y)
        | project merged = merge_tdigest(tdigestX, tdigestY)
        | project percentile_tdigest(merged, 100, typeof(long))""",
        timespan=None,
        now=NOW,
    )
    table = json.loads(outcome.as_la_bytes())["tables"][0]
    assert table["columns"] == [{"name": "percentile_tdigest_merged", "type": "long"}]
    assert table["rows"] == [[20]]


def test_buildschema_admits_every_value_as_the_documentation_shows(engine: KqlEngine) -> None:
    rows = _rows(
        engine,
        """datatable(value: dynamic) [
            dynamic({"x":1, "y":3.5}),
            dynamic({"x":"somevalue", "z":[1, 2, 3]}),
            dynamic({"y":{"w":"zzz"}, "t":["aa", "bb"], "z":["foo"]})
        ] | summarize buildschema(value)""",
    )
    assert rows == [
        [
            {
                "x": ["long", "string"],
                "y": ["double", {"w": "string"}],
                "z": {"`indexer`": ["long", "string"]},
                "t": {"`indexer`": "string"},
            }
        ]
    ]
    assert _rows(engine, "datatable(x:long) [] | summarize buildschema(todynamic(tostring(x)))") == [[None]]


def test_sketches_over_no_rows_are_null_as_the_summarize_documentation_shows(engine: KqlEngine) -> None:
    assert _rows(engine, "datatable(x:long) [] | summarize hll(x), tdigest(x), hll_if(x, x > 0)") == [[None] * 3]
    assert _rows(engine, "datatable(x:long) [1] | summarize hll(x), tdigest(x)") == [[[1], [1]]]


@pytest.mark.parametrize(
    "values",
    ['dynamic({"a":"s"}), dynamic({"a":1})', 'dynamic({"a":"2020-01-01T00:00:00Z"})', "dynamic({}), dynamic([])"],
)
def test_buildschema_refuses_what_it_cannot_name_exactly(engine: KqlEngine, values: str) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(f"datatable(v:dynamic) [{values}] | summarize buildschema(v)", timespan=None, now=NOW)
    assert refused.value.status == 400 and "buildschema()" in refused.value.message


def test_assert_passes_a_true_constant_and_fails_the_query_on_a_false_one(engine: KqlEngine) -> None:
    check = """let checkLength = (len:long, s:string) {{
        assert(len > 0, "Length must be greater than zero") and strlen(s) > len }};
        datatable(input:string) ['123', '4567'] | where checkLength(len={0}, input)"""
    assert _rows(engine, check.format(3)) == [["4567"]]
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(check.format(-3), timespan=None, now=NOW)
    assert refused.value.status == 400 and "Length must be greater than zero" in refused.value.message


def test_array_sort_of_several_arrays_gives_the_output_taken_by_index(engine: KqlEngine) -> None:
    rows = _rows(
        engine,
        """datatable(command:string, command_time:datetime, user_id:string)
        ['chmod', datetime(2019-07-15), 'user1', 'ls', datetime(2019-07-02), 'user1',
         'dir', datetime(2019-07-22), 'user1', 'mkdir', datetime(2019-07-14), 'user1',
         'rm', datetime(2019-07-27), 'user1', 'pwd', datetime(2019-07-25), 'user1',
         'rm', datetime(2019-07-23), 'user2', 'pwd', datetime(2019-07-25), 'user2']
        | summarize timestamps = make_list(command_time), commands = make_list(command) by user_id
        | project user_id, up = array_sort_asc(timestamps, commands)[1],
            down = array_sort_desc(timestamps, commands)[1]
        | order by user_id asc""",
    )
    assert rows == [
        ["user1", ["ls", "mkdir", "chmod", "dir", "pwd", "rm"], ["rm", "pwd", "dir", "chmod", "mkdir", "ls"]],
        ["user2", ["rm", "pwd"], ["pwd", "rm"]],
    ]
    assert _rows(
        engine,
        """print a = array_sort_asc(dynamic([1,3,null,5,2]), dynamic(["a","b","c","d","e"]), false)[1],
        b = array_sort_asc(dynamic([1,3,5,2]), dynamic(["a","b","c"]))[-1],
        c = array_sort_desc(dynamic([10,9,null]), dynamic([1,2,3]))[0],
        d = array_sort_asc(dynamic([3,1,2]), dynamic(["c","a","b"]), dynamic([30,10,20]))[2]""",
    ) == [[["c", "a", "e", "b", "d"], None, [10, 9, None], [10, 20, 30]]]


def test_columns_named_like_the_translations_inner_names_do_not_change_answers(engine: KqlEngine) -> None:
    """The SQL of these functions names list elements inside lambdas; a column of the same name must not be read
    in their place."""
    rows = _rows(
        engine,
        """datatable(i:long, s:string, e:long, w:long, h:long, v:long, j:long, p:long)[2, 'b', 1, 0, 9, 1, 1, 1]
        | project a = array_sort_asc(pack_array(i, 0), pack_array(s, 'z'))[1],
            x = indexof_regex('abcabc', 'b', w, -1, p), y = hash('World', h * 0 + 100),
            z = series_seasonal(pack_array(i, v, j, e), p + 1),
            r = range(datetime(2020-01-01), datetime(2020-01-01) + i * 1d, 1d)""",
    )
    days = [f"2020-01-0{day}T00:00:00.0000000Z" for day in (1, 2, 3)]
    assert rows == [[["z", "b"], 1, 51, [1.5, 1, 1.5, 1], days]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "range i from 1 to 2 step 1 | project b = array_iff(dynamic([true, false]), pack_array(i, i), 0)",
            [[[1, 0]], [[2, 0]]],
        ),
        (
            "range e from 1 to 2 step 1 | project b = set_intersect(pack_array(e, 5), dynamic([5, 1]))",
            [[[1, 5]], [[5]]],
        ),
        ("range k from 1 to 1 step 1 | project b = array_rotate_right(pack_array(k, 2, 3), k)", [[[3, 1, 2]]]),
    ],
)
def test_a_column_named_like_a_lambda_element_is_still_the_column(engine: KqlEngine, query: str, expected: Any) -> None:
    assert _rows(engine, query) == expected


def test_lambda_parameters_are_renamed_within_their_lambda_only() -> None:
    sql = (
        'select list_transform(l, lambda i: "i" + i + x.i + f(i)), '
        "list_reduce(l, lambda a, b: {'s': a, 'p': b.p}, 0), i, 'lambda i: i', "
        'list_transform(l, lambda __kql_t: "__kql_t")'
    )
    p = kql_lambdas.PREFIX
    assert kql_lambdas.private_lambdas(sql) == (
        f'select list_transform(l, lambda {p}i: "i" + {p}i + x.i + f({p}i)), '
        f"list_reduce(l, lambda {p}a, {p}b: {{'s': {p}a, 'p': {p}b.p}}, 0), i, 'lambda i: i', "
        'list_transform(l, lambda __kql_t: "__kql_t")'
    )


REFUSED: list[tuple[str, str]] = [
    ("array_sort_asc(dynamic([1,3]), dynamic([2,4]))", "taken by index"),
    ("array_sort_asc(dynamic([1,1]), dynamic([2,4]))[1]", "repeated element"),
    ("hash(1)", "neither a string nor a datetime"),
    ("hash(1.5)", "neither a string nor a datetime"),
    ('hash("", 10)', "negative hash"),
    ("hash_many('a', 'b')", "hash_many()"),
    ("hash_combine(1, 2)", "hash_combine()"),
    (f"zlib_compress_to_base64_string(strrep('a', {kql_python_functions.ZLIB_MOST_BYTES + 1}))", "bytes"),
    ('dynamic_to_json("text")', "not dynamic"),
    ("dynamic_to_json(dynamic([1.5e300]))", "exponent"),
    ('ipv4_range_to_cidr_list("1.1.1.5", "1.1.1.1")', "start after the end"),
    ('ipv4_range_to_cidr_list("1.1.1.0/24", "1.1.1.9")', "plain IPv4"),
    ("series_iir(dynamic([1, null]), dynamic([1]), dynamic([1]))", "anything but numbers"),
    ("series_iir(dynamic([1]), dynamic([1]), dynamic([0]))", "first denominator of zero"),
    ("series_seasonal(dynamic([1, 2]))", "without a period"),
    ("series_seasonal(dynamic([1, 2]), -1)", "without a period"),
    ('ipv6_compare("::0:1.2.3.4", "1.2.3.4")', "dotted IPv4"),
    ('ipv6_is_in_any_range("::1", "junk")', "not an IPv6 or IPv4 network"),
    ('parse_ipv6_mask("::1", 129)', "outside 0 to 128"),
    ("beta_cdf(0.5, 101, 2)", "above 100"),
    ("beta_inv(0, 2, 2)", "probability of 0"),
    ("range(1d, 3d, 1d)", "timespans"),
    ("datetime_local_to_utc(datetime(2020-03-29 02:30:00), 'Europe/Paris')", "skips or repeats"),
    ("datetime_local_to_utc(datetime(2020-10-25 02:30:00), 'Europe/Paris')", "skips or repeats"),
    (r'parse_command_line("x.exe a\"\"b", "windows")', "two quotes in a row"),
    (r'parse_command_line(@"""x.exe""y z", "windows")', "glued quote"),
    ('parse_command_line(" x.exe", "windows")', "white space"),
    ('parse_command_line("x.exe", "linux")', "windows"),
    (r'parse_path(@"C:\file.txt")', "directory/name.extension"),
    ('parse_path("/usr/lib/README")', "directory/name.extension"),
    ('todecimal("1234567890.1234567")', "15 significant digits"),
    ('todecimal("1e3")', "exponent form"),
    ('indexof_regex("xxabc", "^a", 1)', "anchors"),
    ('indexof_regex("abc", "x*")', "empty text"),
    ("extract_all(@'(?P<a>\\w)(\\w)', dynamic(['a', 'b']), 'xy')", "no group named 'b'"),
]


@pytest.mark.parametrize(("expression", "sentence"), REFUSED)
def test_what_cannot_be_exact_is_refused_with_a_sentence(engine: KqlEngine, expression: str, sentence: str) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute(f"print v = {expression}", timespan=None, now=NOW)
    assert refused.value.status == 400
    assert sentence in refused.value.message


def test_assert_of_a_row_bound_condition_is_refused(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute('datatable(x:long) [1] | extend a = assert(x > 0, "no")', timespan=None, now=NOW)
    assert refused.value.status == 400 and "constants" in refused.value.message


def test_pack_all_of_a_row_with_a_datetime_is_refused(engine: KqlEngine) -> None:
    with pytest.raises(KqlQueryError) as refused:
        engine.execute("print a = 1, t = datetime(2020-01-01) | extend p = pack_all()", timespan=None, now=NOW)
    assert refused.value.status == 400 and "datetime" in refused.value.message


# Properties ---------------------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)


@PROPERTY
@given(text=texts)
def test_hash_is_xxhash64_of_the_utf8_text(engine: KqlEngine, text: str) -> None:
    expected = xxhash.xxh64_intdigest(text.encode("utf-8"))
    assert _value(engine, f"hash({_kql_string(text)})") == (expected - (1 << 64) if expected >= 1 << 63 else expected)


@PROPERTY
@given(text=texts)
def test_zlib_compress_is_read_back_by_zlib_and_by_decompress(engine: KqlEngine, text: str) -> None:
    literal = _kql_string(text)
    compressed = _value(engine, f"zlib_compress_to_base64_string({literal})")
    assert zlib.decompress(base64.b64decode(compressed)).decode("utf-8") == text
    assert _value(engine, f"zlib_decompress_from_base64_string(zlib_compress_to_base64_string({literal}))") == text


@PROPERTY
@given(
    text=st.text(alphabet="abc", max_size=30),
    needle=st.text(alphabet="abc", min_size=1, max_size=3),
    occurrence=st.integers(min_value=1, max_value=4),
)
def test_indexof_regex_finds_non_overlapping_matches_as_python_does(
    engine: KqlEngine, text: str, needle: str, occurrence: int
) -> None:
    starts = [match.start() for match in re.finditer(re.escape(needle), text)]
    expected = starts[occurrence - 1] if len(starts) >= occurrence else -1
    assert _value(engine, f'indexof_regex("{text}", "{needle}", 0, -1, {occurrence})') == expected


@PROPERTY
@given(
    x=st.floats(min_value=0.001, max_value=0.999),
    a=st.floats(min_value=0.5, max_value=50),
    b=st.floats(min_value=0.5, max_value=50),
)
def test_beta_inv_undoes_beta_cdf_and_cdf_mirrors(engine: KqlEngine, x: float, a: float, b: float) -> None:
    p, mirrored, back = _rows(
        engine,
        f"print p = beta_cdf({x!r}, {a!r}, {b!r}), m = beta_cdf(1 - {x!r}, {b!r}, {a!r}) "
        f"| extend back = iff(p > 0 and p < 1, beta_inv(p, {a!r}, {b!r}), real(null))",
    )[0]
    assert p + mirrored == pytest.approx(1, abs=1e-13)
    # Where p is within 1e-6 of 0 or 1 the inverse is ill-conditioned: a last-digit change in p moves x far.
    if back is not None and 1e-6 < p < 1 - 1e-6:
        assert back == pytest.approx(x, abs=1e-9)


@PROPERTY
@given(address=st.integers(min_value=0, max_value=(1 << 128) - 1), prefix=st.integers(min_value=0, max_value=128))
def test_parse_ipv6_mask_masks_as_python_does(engine: KqlEngine, address: int, prefix: int) -> None:
    text = ipaddress.IPv6Address(address).compressed
    expected = ipaddress.IPv6Network((address, prefix), strict=False).network_address.exploded
    assert _value(engine, f'parse_ipv6_mask("{text}", {prefix})') == expected


@PROPERTY
@given(
    first=st.integers(min_value=0, max_value=(1 << 128) - 1),
    second=st.integers(min_value=0, max_value=(1 << 128) - 1),
    prefix=st.integers(min_value=0, max_value=128),
)
def test_ipv6_compare_with_a_prefix_orders_as_python_does(
    engine: KqlEngine, first: int, second: int, prefix: int
) -> None:
    masked = [(value >> (128 - prefix)) if prefix else 0 for value in (first, second)]
    expected = (masked[0] > masked[1]) - (masked[0] < masked[1])
    a, b = (ipaddress.IPv6Address(value).compressed for value in (first, second))
    assert _value(engine, f'ipv6_compare("{a}", "{b}", {prefix})') == expected


# The library these are added to -----------------------------------------------------------------


def test_the_library_still_lacks_what_is_added_here() -> None:
    """An upgrade of duckdb-kql that brings its own form of these would otherwise be shadowed unnoticed."""
    assert duckdb_kql.__version__ == kql_extensions.LIBRARY_VERSION
    added = set(kql_python_functions.python_forms()) | {"pack_all", "todecimal", "assert", "indexof_regex"}
    assert not added & set(kql_translate.functions.SCALAR_FUNCTIONS)
    assert kql_translate._SPECIAL_FORMS["extract_all"].__module__ == "console.emulator.kql_more_functions"


# Through the Log Analytics query API --------------------------------------------------------------


def test_the_query_api_answers_the_added_functions(logs_client: LogsQueryClient) -> None:
    query = (
        'print z = zlib_decompress_from_base64_string("eJwLSS0uUSguKcrMS1cwNDIGACxqBQ4="), h = hash("World", 100), '
        'i = indexof_regex("abcabcdefg", @"a.c", 0, 9, 2)'
    )
    result = logs_client.query_workspace(estate.WORKSPACE_CUSTOMER_ID, query, timespan=None)
    assert [list(row) for row in result.tables[0].rows] == [["Test string 123", 51, 3]]  # type: ignore[union-attr]


def test_the_query_api_refuses_with_a_400_and_the_sentence(logs_client: LogsQueryClient) -> None:
    with pytest.raises(HttpResponseError) as refused:
        logs_client.query_workspace(estate.WORKSPACE_CUSTOMER_ID, "print hash(1)", timespan=None)
    assert refused.value.status_code == 400
    assert "neither a string nor a datetime" in str(refused.value.message)
