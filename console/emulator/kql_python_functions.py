"""KQL functions the local Log Analytics computes in Python: zlib, xxhash64 and canonical JSON, which
DuckDB has no function for.

Each is a DuckDB scalar function of ours (`register`) behind a special form of duckdb-kql's translator
(`python_forms`). The functions never raise: what they cannot answer exactly they answer with null, and
the SQL around them turns that into a refusal with a sentence (or into Kusto's own answer for bad input).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
import struct
import zlib
from collections.abc import Callable
from typing import Any

import xxhash
from duckdb_kql import ir as kql_ir
from duckdb_kql import translate as kql_translate

from console.emulator.kql_units import KqlRefusalError

__all__ = ["BETA_MOST", "BUILD_SCHEMA", "ZLIB_MOST_BYTES", "python_forms", "register"]

_Renderer = Callable[[Any], "str | None"]

# Kusto's zlib output is one stored (uncompressed) block, as its published example shows; how it splits a
# longer input into blocks is not documented, so only an input that fits in one small block is compressed.
ZLIB_MOST_BYTES = 4096

# .NET ticks (100 ns since 0001-01-01) of the Unix epoch: Kusto hashes a datetime as its ticks.
_EPOCH_TICKS = 621_355_968_000_000_000


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _zlib_compress(text: str) -> str:
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 0)).decode("ascii")


def _zlib_decompress(text: str) -> str:
    """The text zlib-compressed in base64, or '' when it is not that (as Kusto answers)."""
    try:
        return zlib.decompress(base64.b64decode(text, validate=True), 15).decode("utf-8")
    except (binascii.Error, ValueError, zlib.error):
        return ""


def _xxhash64_text(text: str) -> int:
    return _signed(xxhash.xxh64_intdigest(text.encode("utf-8")))


def _xxhash64_ticks(micros: int) -> int:
    return _signed(xxhash.xxh64_intdigest(struct.pack("<q", micros * 10 + _EPOCH_TICKS)))


class _InexactError(Exception):
    """A value whose JSON text Kusto would write differently from Python."""


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value) or (value == 0 and math.copysign(1, value) < 0):
            raise _InexactError
        if value == math.trunc(value) and abs(value) < 1e15:
            return int(value)
        if "e" in repr(value):
            raise _InexactError
    return value


def _sorted_json(text: str) -> str | None:
    """A dynamic value's JSON with every bag's keys in ordinal order, as dynamic_to_json writes it; null for a
    real written with an exponent or not finite (Kusto's spelling of those is not settled here)."""
    try:
        value = _canonical(json.loads(text))
    except (_InexactError, ValueError):
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _ipv4_cidrs(first: int, last: int) -> str | None:
    """The fewest CIDR blocks covering first..last (addresses as numbers), in order; null if first > last."""
    if first > last:
        return None
    blocks = ipaddress.summarize_address_range(ipaddress.IPv4Address(first), ipaddress.IPv4Address(last))
    return json.dumps([str(block) for block in blocks], separators=(",", ":"))


def _numbers(text: str) -> list[float] | None:
    value = json.loads(text)
    if not isinstance(value, list) or not all(
        isinstance(item, (int, float)) and not isinstance(item, bool) for item in value
    ):
        return None
    return [float(item) for item in value]


def _series_iir(series: str, numerators: str, denominators: str) -> str | None:
    """The IIR filter of series_iir: y[i] = (sum b[k] x[i-k] - sum a[k] y[i-k] for k >= 1) / a[0]. Null when
    an array holds something other than numbers, or a[0] is zero."""
    x, b, a = _numbers(series), _numbers(numerators), _numbers(denominators)
    if x is None or b is None or a is None or not a or not b or a[0] == 0:
        return None
    y: list[float] = []
    for i in range(len(x)):
        total = 0.0
        for k, coefficient in enumerate(b[: i + 1]):
            total += coefficient * x[i - k]
        for k, coefficient in enumerate(a[1 : i + 1], start=1):
            total -= coefficient * y[i - k]
        y.append(total / a[0])
    return json.dumps([value if math.isfinite(value) else None for value in y], separators=(",", ":"))


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of the regularized incomplete beta function, by the modified Lentz method."""
    tiny, epsilon = 1e-300, 1e-16
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            step = c * d
            result *= step
        if abs(step - 1) < epsilon:
            break
    return result


def _beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for 0 <= x <= 1 and positive a, b."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    # The fraction converges fast on the side of the mean; the other side is 1 minus its mirror image.
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(x, a, b) / a
    return 1 - front * _beta_fraction(1 - x, b, a) / b


def _beta_inv(p: float, a: float, b: float) -> float:
    """The x in [0, 1] whose beta_cdf is p, by bisection down to adjacent doubles."""
    low, high = 0.0, 1.0
    while True:
        middle = (low + high) / 2
        if middle in (low, high):
            return middle
        if _beta_cdf(middle, a, b) < p:
            low = middle
        else:
            high = middle


_PATH = re.compile(r"(?:(?P<scheme>file)://)?(?P<root>[A-Za-z]:)?(?P<rest>.+)")


def _parse_path(text: str) -> str | None:
    """parse_path's parts, for the path shapes its documentation shows: an optional file:// scheme and drive,
    one kind of separator, a directory below the root, and a file name with an extension and an optional
    alternate data stream. Null for any other shape (a long path, a bare name, a trailing separator,
    a dot file...), whose parts Kusto does not document."""
    found = _PATH.fullmatch(text)
    if found is None or "\\?\\" in text:
        return None
    rest = found.group("rest")
    if ("/" in rest) == ("\\" in rest):
        return None
    separator = "/" if "/" in rest else "\\"
    directory, _, last = rest.rpartition(separator)
    name, colon, stream = last.partition(":")
    stem, dot, extension = name.rpartition(".")
    if not directory.strip(separator) or not stem or not dot or not extension or ":" in stream or ":" in directory:
        return None
    if colon and not stream:
        return None
    directory_path = (found.group("root") or "") + directory
    parts = {
        "Scheme": found.group("scheme") or "",
        "RootPath": found.group("root") or "",
        "DirectoryPath": directory_path,
        "DirectoryName": directory.rpartition(separator)[2],
        "Filename": name,
        "Extension": extension,
        "AlternateDataStreamName": stream,
    }
    return json.dumps(parts, ensure_ascii=False, separators=(",", ":"))


def _parse_command_line(text: str) -> str | None:
    """The arguments of a Windows command line, split as CommandLineToArgvW does. Null for the shapes whose
    reading varies between Windows versions or is not documented: an empty or blank line, leading white space,
    two quotes in a row, an unclosed or glued quote around the program name."""
    if not text.strip() or text[0] in " \t" or '""' in text:
        return None
    arguments: list[str] = []
    # The program name: up to the closing quote if it starts with one, else up to white space; no escapes.
    if text[0] == '"':
        end = text.find('"', 1)
        # Text glued to the closing quote of the program name is read differently by Windows versions.
        if end < 0 or text[end + 1 : end + 2] not in ("", " ", "\t"):
            return None
        arguments.append(text[1:end])
        index = end + 1
    else:
        end = next((i for i, char in enumerate(text) if char in " \t"), len(text))
        arguments.append(text[:end])
        index = end
    current: list[str] | None = None
    quoted = False
    while index < len(text):
        char = text[index]
        if char in " \t" and not quoted:
            if current is not None:
                arguments.append("".join(current))
                current = None
            index += 1
            continue
        current = current if current is not None else []
        if char == "\\":
            run = len(text) - index - len(text[index:].lstrip("\\"))
            if index + run < len(text) and text[index + run] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    index += run + 1
                else:
                    index += run
                continue
            current.append("\\" * run)
            index += run
            continue
        if char == '"':
            quoted = not quoted
        else:
            current.append(char)
        index += 1
    if current is not None:
        arguments.append("".join(current))
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


# Strings that a typed dynamic value (a datetime, timespan or guid) would also be written as here: Kusto's
# schema names their type, which their text here no longer carries.
_TYPED_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*|-?(\d+\.)?\d{2}:\d{2}:\d{2}(\.\d+)?|"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class _Schema:
    """What buildschema has seen at one place: scalar type names, a bag's keys, an array's elements, each in
    the order first seen."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.bag: dict[str, _Schema] = {}
        self.items: _Schema | None = None

    def _saw(self, kind: str) -> None:
        if kind not in self.order:
            self.order.append(kind)

    def add(self, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            if not value:
                raise _InexactError
            self._saw("{}")
            for key, item in value.items():
                self.bag.setdefault(key, _Schema()).add(item)
        elif isinstance(value, list):
            if not value:
                raise _InexactError
            self._saw("[]")
            self.items = self.items or _Schema()
            for item in value:
                self.items.add(item)
        elif isinstance(value, bool):
            self._saw("bool")
        elif isinstance(value, int):
            if not -(1 << 63) <= value < 1 << 63:
                raise _InexactError
            self._saw("long")
        elif isinstance(value, float):
            self._saw("double")
        elif _TYPED_TEXT.fullmatch(value):
            raise _InexactError
        else:
            self._saw("string")

    def render(self) -> Any:
        scalars = [kind for kind in self.order if kind not in ("{}", "[]")]
        # Seen in this order in the documentation's example; an order that differs from it is not settled.
        settled = sorted(scalars) + [kind for kind in ("{}", "[]") if kind in self.order]
        if self.order != settled:
            raise _InexactError
        members: list[Any] = list(scalars)
        if "{}" in self.order:
            members.append({key: schema.render() for key, schema in self.bag.items()})
        if "[]" in self.order and self.items is not None:
            members.append({"`indexer`": self.items.render()})
        return members[0] if len(members) == 1 else members


def _build_schema(values: str) -> str | None:
    """buildschema over the values (a JSON array of them); null for what it cannot answer exactly: an empty
    bag or array, text that could have been a datetime, timespan or guid, or an order of types the
    documentation does not settle."""
    schema = _Schema()
    try:
        for value in json.loads(values):
            schema.add(value)
        if not schema.order:
            return "null"
        return json.dumps(schema.render(), ensure_ascii=False, separators=(",", ":"))
    except _InexactError:
        return None


# (name, function, argument types, result type)
_FUNCTIONS: tuple[tuple[str, Callable[..., Any], list[str], str], ...] = (
    ("__kql_zlib_compress", _zlib_compress, ["VARCHAR"], "VARCHAR"),
    ("__kql_zlib_decompress", _zlib_decompress, ["VARCHAR"], "VARCHAR"),
    ("__kql_xxhash64_text", _xxhash64_text, ["VARCHAR"], "BIGINT"),
    ("__kql_xxhash64_ticks", _xxhash64_ticks, ["BIGINT"], "BIGINT"),
    ("__kql_sorted_json", _sorted_json, ["VARCHAR"], "VARCHAR"),
    ("__kql_ipv4_cidrs", _ipv4_cidrs, ["BIGINT", "BIGINT"], "VARCHAR"),
    ("__kql_series_iir", _series_iir, ["VARCHAR", "VARCHAR", "VARCHAR"], "VARCHAR"),
    ("__kql_beta_cdf", _beta_cdf, ["DOUBLE", "DOUBLE", "DOUBLE"], "DOUBLE"),
    ("__kql_beta_inv", _beta_inv, ["DOUBLE", "DOUBLE", "DOUBLE"], "DOUBLE"),
    ("__kql_parse_path", _parse_path, ["VARCHAR"], "VARCHAR"),
    ("__kql_parse_command_line", _parse_command_line, ["VARCHAR"], "VARCHAR"),
    ("__kql_build_schema", _build_schema, ["VARCHAR"], "VARCHAR"),
)


def _null_in_null_out(function: Callable[..., Any], count: int) -> Callable[..., Any]:
    """`function`, answering null for a null argument (DuckDB reads a function's arity from its signature)."""

    def one(a: Any) -> Any:
        return None if a is None else function(a)

    def two(a: Any, b: Any) -> Any:
        return None if a is None or b is None else function(a, b)

    def three(a: Any, b: Any, c: Any) -> Any:
        return None if a is None or b is None or c is None else function(a, b, c)

    return (one, two, three)[count - 1]


# buildschema(value), an aggregate: the values gathered, then their schema (null over no values).
BUILD_SCHEMA = (
    "CASE WHEN min(typeof({0})) <> 'JSON' THEN error('buildschema() of a value that is not dynamic is not supported "
    "by this local Log Analytics.') WHEN count(__kql_json({0})) = 0 THEN NULL "
    "ELSE CAST(coalesce(__kql_build_schema(CAST(to_json(list(__kql_json({0}))) AS VARCHAR)), "
    "error('buildschema() of an empty bag or array, of text that could be a "
    "datetime, timespan or guid, or of types in an order the documentation does not settle is not supported by "
    "this local Log Analytics.')) AS JSON) END"
)


def used_by(sql: str) -> bool:
    """Whether translated `sql` calls one of this module's functions."""
    return "__kql_" in sql and any(name in sql for name, *_rest in _FUNCTIONS)


def register(connection: Any) -> None:
    """Create this module's functions on `connection`: a null argument gives null, and so does a value the
    function cannot answer exactly (the SQL around it says why). Creating the first imports numpy (a tenth
    of a second), so an engine does it when a query first needs them."""
    for name, function, arguments, result in _FUNCTIONS:
        connection.create_function(
            name,
            _null_in_null_out(function, len(arguments)),
            arguments,
            result,
            null_handling="special",
            side_effects=False,
        )


def _refusal(sentence: str) -> str:
    return f"error('{sentence.replace(chr(39), chr(39) * 2)}')"


def _render_zlib_compress(node: Any) -> str | None:
    """zlib_compress_to_base64_string(text): one stored block, as Kusto writes it."""
    if len(node.args) != 1:
        return None
    text = f"CAST({kql_translate.render_expr(node.args[0])} AS VARCHAR)"
    too_long = _refusal(
        f"zlib_compress_to_base64_string() of more than {ZLIB_MOST_BYTES} bytes is not supported by this local "
        "Log Analytics."
    )
    size = f"octet_length(encode({text}))"
    return f"CASE WHEN {size} > {ZLIB_MOST_BYTES} THEN {too_long} ELSE __kql_zlib_compress({text}) END"


def _render_zlib_decompress(node: Any) -> str | None:
    if len(node.args) != 1:
        return None
    return f"__kql_zlib_decompress(CAST({kql_translate.render_expr(node.args[0])} AS VARCHAR))"


def _render_hash(function: str) -> _Renderer:
    """hash(source[, mod]) / hash_xxhash64: xxhash64 of a string's UTF-8 bytes or of a datetime's ticks.

    Other types are refused: how Kusto lays out their bytes is not documented. So is a modulo of a negative
    hash, whose sign Kusto's answer (documented between 0 and mod - 1) does not settle."""

    def render(node: Any) -> str | None:
        if len(node.args) not in (1, 2):
            return None
        value = kql_translate.render_expr(node.args[0])
        other = _refusal(
            f"{function}() of a value that is neither a string nor a datetime is not supported by this "
            "local Log Analytics."
        )
        micros = f"epoch_us(TRY_CAST(CAST({value} AS VARCHAR) AS TIMESTAMP))"
        hashed = (
            f"(CASE typeof({value}) WHEN 'VARCHAR' THEN __kql_xxhash64_text(CAST({value} AS VARCHAR)) "
            f"WHEN 'TIMESTAMP' THEN __kql_xxhash64_ticks({micros}) WHEN 'NULL' THEN NULL ELSE {other} END)"
        )
        if len(node.args) == 1:
            return hashed
        modulo = f"CAST({kql_translate.render_expr(node.args[1])} AS BIGINT)"
        negative = _refusal(
            f"{function}() with a modulo of a negative hash is not supported by this local Log Analytics."
        )
        return (
            f"list_transform([{hashed}], lambda __kql_h: CASE WHEN __kql_h < 0 THEN {negative} "
            f"WHEN {modulo} <= 0 THEN NULL ELSE __kql_h % {modulo} END)[1]"
        )

    return render


def _render_dynamic_to_json(node: Any) -> str | None:
    """dynamic_to_json(value): its JSON text, keys sorted, for a dynamic value."""
    if len(node.args) != 1:
        return None
    value = kql_translate.render_expr(node.args[0])
    not_dynamic = _refusal(
        "dynamic_to_json() of a value that is not dynamic is not supported by this local Log Analytics."
    )
    inexact = _refusal(
        "dynamic_to_json() of a real with an exponent or not finite is not supported by this local Log Analytics."
    )
    return (
        f"CASE WHEN {value} IS NULL THEN NULL WHEN typeof({value}) <> 'JSON' THEN {not_dynamic} "
        f"ELSE coalesce(__kql_sorted_json(CAST({value} AS VARCHAR)), {inexact}) END"
    )


def _render_ipv4_range_to_cidr_list(node: Any) -> str | None:
    """ipv4_range_to_cidr_list(start, end): the CIDR blocks that exactly cover the range."""
    if len(node.args) != 2:
        return None
    first, last = (f"CAST({kql_translate.render_expr(arg)} AS VARCHAR)" for arg in node.args)
    refusal = _refusal(
        "ipv4_range_to_cidr_list() of text that is not a plain IPv4 address, or of a start after the end, is not "
        "supported by this local Log Analytics."
    )
    plain = f"__kql_ip4({first}) IS NOT NULL AND __kql_ip4({last}) IS NOT NULL AND NOT contains({first}, '/') "
    plain += f"AND NOT contains({last}, '/')"
    return (
        f"CASE WHEN {first} IS NULL OR {last} IS NULL THEN NULL "
        f"WHEN NOT ({plain}) THEN {refusal} "
        f"ELSE CAST(coalesce(__kql_ipv4_cidrs(__kql_ip4({first}), __kql_ip4({last})), {refusal}) AS JSON) END"
    )


def _render_series_iir(node: Any) -> str | None:
    """series_iir(series, numerators, denominators)."""
    if len(node.args) != 3:
        return None
    texts = [f"CAST(__kql_json({kql_translate.render_expr(arg)}) AS VARCHAR)" for arg in node.args]
    refusal = _refusal(
        "series_iir() of arrays holding anything but numbers, or with a first denominator of zero, is not "
        "supported by this local Log Analytics."
    )
    return (
        f"CASE WHEN {' OR '.join(f'{text} IS NULL' for text in texts)} THEN NULL "
        f"ELSE CAST(coalesce(__kql_series_iir({', '.join(texts)}), {refusal}) AS JSON) END"
    )


# Past this, the beta function's logarithm is large enough that a double keeps fewer than 14 digits of the answer.
BETA_MOST = 100
_BETA_LARGE = _refusal(
    f"beta_cdf() and beta_inv() with alpha or beta above {BETA_MOST} are not supported by this local Log Analytics."
)


def _render_beta_cdf(node: Any) -> str | None:
    """beta_cdf(x, alpha, beta): NaN for x outside 0..1 or a parameter outside (0, 10000], as Kusto documents."""
    if len(node.args) != 3:
        return None
    x, a, b = (f"TRY_CAST({kql_translate.render_expr(arg)} AS DOUBLE)" for arg in node.args)
    outside = f"{x} < 0 OR {x} > 1 OR {a} <= 0 OR {a} > 10000 OR {b} <= 0 OR {b} > 10000 OR isnan({x} + {a} + {b})"
    return (
        f"CASE WHEN {x} IS NULL OR {a} IS NULL OR {b} IS NULL THEN NULL "
        f"WHEN {outside} THEN CAST('NaN' AS DOUBLE) WHEN {a} > {BETA_MOST} OR {b} > {BETA_MOST} THEN {_BETA_LARGE} "
        f"ELSE __kql_beta_cdf({x}, {a}, {b}) END"
    )


def _render_beta_inv(node: Any) -> str | None:
    """beta_inv(p, alpha, beta): null for p above 1 and NaN for a negative alpha, as the documentation's
    published answers show (its prose says otherwise); the edges neither settles are refused."""
    if len(node.args) != 3:
        return None
    p, a, b = (f"TRY_CAST({kql_translate.render_expr(arg)} AS DOUBLE)" for arg in node.args)
    unsettled = _refusal(
        "beta_inv() of a probability of 0 or less or of 1, or of an alpha of 0, a beta of 0 or less, or a "
        "parameter above 10000, is not supported by this local Log Analytics."
    )
    return (
        f"CASE WHEN {p} IS NULL OR {a} IS NULL OR {b} IS NULL THEN NULL WHEN {p} > 1 THEN NULL "
        f"WHEN {a} < 0 THEN CAST('NaN' AS DOUBLE) "
        f"WHEN {p} <= 0 OR {p} = 1 OR {a} = 0 OR {b} <= 0 OR {a} > 10000 OR {b} > 10000 OR isnan({p} + {a} + {b}) "
        f"THEN {unsettled} WHEN {a} > {BETA_MOST} OR {b} > {BETA_MOST} THEN {_BETA_LARGE} "
        f"ELSE __kql_beta_inv({p}, {a}, {b}) END"
    )


def _render_parse_path(node: Any) -> str | None:
    if len(node.args) != 1:
        return None
    text = f"CAST({kql_translate.render_expr(node.args[0])} AS VARCHAR)"
    refusal = _refusal(
        "parse_path() of a path other than [file://][drive:]directory/name.extension[:stream] (one kind of "
        "separator) is not supported by this local Log Analytics."
    )
    return f"CASE WHEN {text} IS NULL THEN NULL ELSE CAST(coalesce(__kql_parse_path({text}), {refusal}) AS JSON) END"


def _render_parse_command_line(node: Any) -> str | None:
    """parse_command_line(text, 'windows')."""
    if len(node.args) != 2:
        return None
    parser = node.args[1]
    if not (isinstance(parser, kql_ir.Literal) and str(parser.value).lower() == "windows"):
        raise KqlRefusalError("parse_command_line(): the only parser type is the literal 'windows'.")
    text = f"CAST({kql_translate.render_expr(node.args[0])} AS VARCHAR)"
    refusal = _refusal(
        "parse_command_line() of an empty line, a line starting with white space, one with two quotes in a row or a "
        "glued quote around the program name "
        "is not supported by this local Log Analytics."
    )
    return (
        f"CASE WHEN {text} IS NULL THEN NULL "
        f"ELSE CAST(coalesce(__kql_parse_command_line({text}), {refusal}) AS JSON) END"
    )


def python_forms() -> dict[str, _Renderer]:
    """The renderers this module adds, by KQL function name."""
    return {
        "zlib_compress_to_base64_string": _render_zlib_compress,
        "zlib_decompress_from_base64_string": _render_zlib_decompress,
        "hash": _render_hash("hash"),
        "hash_xxhash64": _render_hash("hash_xxhash64"),
        "dynamic_to_json": _render_dynamic_to_json,
        "ipv4_range_to_cidr_list": _render_ipv4_range_to_cidr_list,
        "series_iir": _render_series_iir,
        "beta_cdf": _render_beta_cdf,
        "beta_inv": _render_beta_inv,
        "parse_path": _render_parse_path,
        "parse_command_line": _render_parse_command_line,
    }


# Referenced so a renamed library structure fails at import, not on a query.
_REQUIRED = (kql_ir.FunctionCall, kql_translate.render_expr)
