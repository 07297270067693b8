"""Log Analytics query answers, decoded from the body bytes straight into typed Arrow columns.

`AnswerDecoder` takes the body as it arrives. Once the primary table's column list and the start of
its rows array have been seen, the rows are cut into slices of about `chunk_bytes` at row
boundaries; each slice is parsed (orjson) and turned into one Arrow array per column, and its bytes
are dropped, so neither the whole body nor the Python objects of more than one slice are ever held.
A cut is only accepted when the slice parses as a list of rows: a cut inside a string or inside a
nested array never parses. What is left when the body ends (the last rows and everything after
them) is parsed as the answer with its decoded rows taken out.

The result is the one the row-wise conversion (`table_from_rows`) gives from the SDK's rows: typed
columns where every value fits the Log Analytics type, text where one does not.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_CHUNK_BYTES = 2 * 1024 * 1024
_MAX_FAILED_CUTS = 64
_LOOK_BACK = 256  # bytes re-searched after a feed: a key or a row separator may straddle two reads

_ROWS_KEY = re.compile(rb'"rows"\s*:\s*\[')
_COLUMNS_KEY = re.compile(rb'"columns"\s*:\s*\[')
_ROW_SEPARATOR = re.compile(rb"\]\s*,\s*\[")
# What the SDK reads as a datetime starts like this (it hands anything else out as text).
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"
_FRACTION = re.compile(r"^(.*?\.)(\d+)(.*)$")
_REAL_WORDS: dict[str, float] = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class AnswerDecodeError(ValueError):
    """The body is not a Log Analytics answer (not JSON, or not the expected shape)."""


class _IrregularError(Exception):
    """A slice has a value the typed fast conversion does not take."""


@dataclass(frozen=True)
class DecodedAnswer:
    """A decoded query answer: the primary table (None when the answer has no table) and the rest."""

    table: pa.Table | None
    types: tuple[str, ...] = ()
    error: Mapping[str, Any] | None = None
    statistics: Mapping[str, Any] = field(default_factory=dict)
    render: Mapping[str, Any] | None = None


def unique_names(names: Sequence[str]) -> list[str]:
    """Column names made unique the way the console shows them: `x`, `x1`, `x2`..."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        result.append(name if count == 0 else f"{name}{count}")
    return result


# --------------------------------------------------------------------------------------------------
# The row-wise conversion: from values as the SDK hands them out (datetimes parsed, timespans and
# guids as text) to Arrow. The reference the fast path matches, and its fallback for odd values.
# --------------------------------------------------------------------------------------------------


def _arrow_type(la_type: str) -> pa.DataType | None:
    """The Arrow type a Log Analytics column type maps to directly, if any (else: text)."""
    import pyarrow as pa

    return {
        "bool": pa.bool_(),
        "boolean": pa.bool_(),
        "int": pa.int64(),
        "long": pa.int64(),
        "real": pa.float64(),
        "double": pa.float64(),
        "decimal": pa.float64(),
        "datetime": pa.timestamp("us", tz="UTC"),
    }.get(la_type)


def _as_number(value: Any) -> Any:
    """Log Analytics writes NaN and infinities of `real` as text, and `decimal` values as text."""
    if isinstance(value, str):
        if value in _REAL_WORDS:
            return _REAL_WORDS[value]
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _typed_values(values: list[Any], la_type: str) -> tuple[pa.Array | None, list[Any]]:
    """The values as the column's Arrow type, or None when one does not fit; and the values to show as text."""
    import pyarrow as pa

    wanted = _arrow_type(la_type)
    if wanted is None:
        return None, values
    if pa.types.is_floating(wanted):
        values = [_as_number(v) for v in values]
    try:
        return pa.array(values, type=wanted), values
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None, values


def _text_values(values: list[Any], la_type: str) -> pa.Array:
    import pyarrow as pa

    if la_type in ("timespan", "guid"):
        # The SDK hands these out as str(value), which turns a null into the text "None".
        return pa.array([None if v is None or v == "None" else str(v) for v in values], type=pa.string())
    if la_type == "dynamic":
        return pa.array(
            [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values], type=pa.string()
        )
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _column_from_values(values: list[Any], la_type: str) -> pa.Array:
    typed, shown = _typed_values(values, la_type)
    return typed if typed is not None else _text_values(shown, la_type)


def table_from_rows(names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Build an Arrow table column by column from rows as the SDK gives them (datetimes already parsed)."""
    import pyarrow as pa

    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = [_column_from_values(list(values), la_type) for values, la_type in zip(columns, types, strict=True)]
    return pa.Table.from_arrays(arrays, names=unique_names(names))


def parse_la_datetime(value: Any) -> Any:
    """A datetime as the SDK reads it: ISO 8601, fraction cut to microseconds; anything else unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip().upper()
    if re.match(_ISO_DATETIME, text) is None:
        return value
    match = _FRACTION.match(text)
    if match and len(match.group(2)) > 6:
        text = match.group(1) + match.group(2)[:6] + match.group(3)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _native_values(values: Sequence[Any], la_type: str) -> list[Any]:
    """Raw JSON values turned into what the SDK's rows hold: datetimes parsed, timespans and guids as text."""
    if la_type == "datetime":
        return [parse_la_datetime(v) for v in values]
    if la_type in ("timespan", "guid"):
        return [None if v is None else str(v) for v in values]
    return list(values)


# --------------------------------------------------------------------------------------------------
# The column-wise fast path.
# --------------------------------------------------------------------------------------------------


def _fast_array(values: Sequence[Any], la_type: str) -> pa.Array:
    """One slice of one column as a typed Arrow array, straight from the JSON values; raises
    _IrregularError when a value is not of the kind Log Analytics sends for the type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if la_type in ("int", "long"):
            return pa.array(values, type=pa.int64())
        if la_type in ("bool", "boolean"):
            return pa.array(values, type=pa.bool_())
        if la_type in ("real", "double", "decimal"):
            try:
                return pa.array(values, type=pa.float64())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                # NaN/Infinity (real) and every decimal arrive as text; Arrow reads decimal text with
                # the same rounding as float().
                mixed = [_REAL_WORDS.get(v, v) if isinstance(v, str) else v for v in values]
                if all(v is None or isinstance(v, str) for v in mixed):
                    return pa.array(mixed, type=pa.string()).cast(pa.float64())
                return pa.array([float(v) if isinstance(v, str) else v for v in mixed], type=pa.float64())
        if la_type == "datetime":
            text = pa.array(values, type=pa.string())
            if pc.all(pc.match_substring_regex(text, _ISO_DATETIME)).as_py() is False:
                raise _IrregularError("a datetime the SDK would not read")
            try:
                return text.cast(pa.timestamp("us", tz="UTC"))
            except pa.ArrowInvalid:
                # More than six fractional digits (ticks): cut to microseconds, as the SDK does.
                nanos = text.cast(pa.timestamp("ns", tz="UTC"))
                return pc.floor_temporal(nanos, unit="microsecond").cast(pa.timestamp("us", tz="UTC"))
        # string, guid, timespan, dynamic and any other type: Log Analytics sends them as text.
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, ValueError) as error:
        raise _IrregularError(str(error)) from None


class _InexactError(Exception):
    """A slice needs the standard parser: orjson reads integers beyond 64 bits as floats."""


class _ColumnBuilder:
    """One column's Arrow arrays, a slice at a time, typed until a value does not fit the type."""

    def __init__(self, la_type: str) -> None:
        self.la_type = la_type
        self.chunks: list[pa.Array] = []
        self.as_text = _arrow_type(la_type) is None

    def convert(self, values: Sequence[Any], exact: bool) -> tuple[pa.Array, bool]:
        """This slice's array, and whether the column must become text; nothing is kept yet."""
        if self.as_text and _arrow_type(self.la_type) is not None:
            _, shown = _typed_values(_native_values(values, self.la_type), self.la_type)
            return _text_values(shown, self.la_type), False
        try:
            return _fast_array(values, self.la_type), False
        except _IrregularError:
            if not exact:
                raise _InexactError from None
        typed, shown = _typed_values(_native_values(values, self.la_type), self.la_type)
        if typed is not None:
            return typed, False
        return _text_values(shown, self.la_type), not self.as_text

    def keep(self, array: pa.Array, to_text: bool) -> None:
        if to_text:
            # As in the row-wise conversion, one value that does not fit makes the whole column text.
            self.as_text = True
            self.chunks = [_text_values(chunk.to_pylist(), self.la_type) for chunk in self.chunks]
        self.chunks.append(array)

    def array(self) -> pa.ChunkedArray:
        import pyarrow as pa

        if not self.chunks:
            return pa.chunked_array([], type=_arrow_type(self.la_type) or pa.string())
        return pa.chunked_array(self.chunks)


def _parse(data: bytes, exact: bool = False) -> Any:
    """orjson, or the standard parser when asked to be exact or for what orjson refuses (NaN literals)."""
    import orjson

    if exact:
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _columns_of(declared: Any) -> tuple[list[str], list[str]]:
    if not isinstance(declared, list) or not all(isinstance(c, Mapping) for c in declared):
        raise AnswerDecodeError("The answer's table has no readable column list.")
    return [str(c.get("name", "")) for c in declared], [str(c.get("type", "string")) for c in declared]


def _answer_parts(parsed: Any) -> tuple[Mapping[str, Any] | None, dict[str, Any], Mapping[str, Any] | None]:
    if not isinstance(parsed, Mapping):
        raise AnswerDecodeError("The answer is not a JSON object.")
    error, statistics, render = parsed.get("error"), parsed.get("statistics"), parsed.get("render")
    return (
        error if isinstance(error, Mapping) else None,
        dict(statistics) if isinstance(statistics, Mapping) else {},
        render if isinstance(render, Mapping) else None,
    )


def _transpose(rows: Any, columns: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows to columns; AnswerDecodeError when a row is not a list as wide as the column list."""
    try:
        transposed = list(zip(*rows, strict=True))
    except (TypeError, ValueError):
        raise AnswerDecodeError("The answer's rows do not match its columns.") from None
    if len(transposed) != len(columns) or not isinstance(rows[0], list):
        raise AnswerDecodeError("The answer's rows do not match its columns.")
    return transposed


def _check_rows(rows: Any, width: int) -> list[list[Any]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) and len(row) == width for row in rows):
        raise AnswerDecodeError("The answer's rows do not match its columns.")
    return rows


class AnswerDecoder:
    """Decodes a query answer fed to it in pieces as they arrive; `finish()` gives the result."""

    def __init__(self, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
        self.chunk_bytes = max(1, chunk_bytes)
        self.received = 0
        """Bytes fed so far."""
        self.rows = 0
        """Rows decoded so far."""
        self._buffer = bytearray()
        self._scanned = 0
        self._header: bytes | None = None  # the answer up to its rows array's `[`, once seen
        self._whole = False  # the answer is laid out otherwise: keep it all and decode it at the end
        self._names: list[str] = []
        self._types: list[str] = []
        self._columns: list[_ColumnBuilder] = []
        self._search = 0
        self._failed_cuts = 0

    @property
    def pending(self) -> bool:
        """Whether enough bytes wait for `decode()` to have work to do (worth running off the event loop)."""
        return not self._whole and len(self._buffer) > self.chunk_bytes

    def append(self, data: bytes) -> None:
        """Take the next piece of the body, without decoding anything yet."""
        self.received += len(data)
        self._buffer += data

    def decode(self) -> None:
        """Decode every complete slice of rows received so far."""
        if self._whole:
            return
        if self._header is None and not self._find_rows():
            return
        self._cut_slices()

    def feed(self, data: bytes) -> None:
        """Take the next piece of the body and decode what it completes."""
        self.append(data)
        self.decode()

    def _find_rows(self) -> bool:
        rows_key = _ROWS_KEY.search(self._buffer, max(0, self._scanned - _LOOK_BACK))
        if rows_key is None:
            self._scanned = len(self._buffer)
            return False
        columns_key = _COLUMNS_KEY.search(self._buffer, 0, rows_key.start())
        try:
            if columns_key is None:
                raise ValueError("no column list before the rows")
            # The column list runs up to the rows key of the same table: it parses only if it does.
            declared = _parse(bytes(self._buffer[columns_key.end() - 1 : rows_key.start()]).rstrip().rstrip(b","))
            self._names, self._types = _columns_of(declared)
        except (ValueError, AnswerDecodeError):
            self._whole = True
            return False
        self._columns = [_ColumnBuilder(t) for t in self._types]
        self._header = bytes(self._buffer[: rows_key.end()])
        del self._buffer[: rows_key.end()]
        return True

    def _cut_slices(self) -> None:
        while len(self._buffer) > self.chunk_bytes and self._failed_cuts <= _MAX_FAILED_CUTS:
            separator = _ROW_SEPARATOR.search(self._buffer, max(self._search, self.chunk_bytes))
            if separator is None:
                self._search = max(self.chunk_bytes, len(self._buffer) - _LOOK_BACK)
                return
            with memoryview(self._buffer) as view:
                piece = b"".join((b"[", view[: separator.start() + 1], b"]"))
            try:
                rows = _parse(piece)
            except ValueError:
                rows = None
            if not isinstance(rows, list):
                # Inside a string or a nested array (or past the rows): look further.
                self._failed_cuts += 1
                self._search = separator.start() + 1
                continue
            self._add(rows, functools.partial(_parse, piece, exact=True))
            del piece
            del self._buffer[: separator.end() - 1]  # keep the next row's `[`
            self._search = 0

    def _add(self, rows: list[Any], exactly: Callable[[], Any]) -> None:
        """Add a slice of rows; a slice with odd values is parsed again by `exactly` (the standard parser)."""
        if not rows:
            return
        try:
            arrays = [c.convert(v, False) for c, v in zip(self._columns, _transpose(rows, self._columns), strict=True)]
        except _InexactError:
            rows = exactly()
            arrays = [c.convert(v, True) for c, v in zip(self._columns, _transpose(rows, self._columns), strict=True)]
        for builder, (array, to_text) in zip(self._columns, arrays, strict=True):
            builder.keep(array, to_text)
        self.rows += len(rows)

    def finish(self) -> DecodedAnswer:
        """Decode what is left and return the answer; AnswerDecodeError when it is not one."""
        if self._header is None or self._whole:
            return _decode_whole(bytes(self._buffer))
        # The answer with the rows decoded so far taken out: still a whole JSON document.
        rest = self._header + bytes(self._buffer)
        self._buffer = bytearray()
        try:
            parsed = _parse(rest)
        except ValueError as bad:
            raise AnswerDecodeError(f"The answer is not JSON: {bad}") from None
        error, statistics, render = _answer_parts(parsed)
        tables = parsed.get("tables")
        if not isinstance(tables, list) or not tables or not isinstance(tables[0], Mapping):
            raise AnswerDecodeError("The answer has no table where its rows were.")
        primary = tables[0]
        if _columns_of(primary.get("columns")) != (self._names, self._types):
            raise AnswerDecodeError("The answer's rows do not belong to its first table.")
        last = _check_rows(primary.get("rows") or [], len(self._columns))
        if last:
            self._add(last, lambda: _parse(rest, exact=True)["tables"][0]["rows"])
        import pyarrow as pa

        table = pa.Table.from_arrays([c.array() for c in self._columns], names=unique_names(self._names))
        return DecodedAnswer(table, tuple(self._types), error, statistics, render)


def _decode_whole(body: bytes) -> DecodedAnswer:
    """Parse the whole body, then convert row by row: for answers laid out other than Log Analytics does."""
    try:
        parsed = json.loads(body)
    except ValueError as bad:
        raise AnswerDecodeError(f"The answer is not JSON: {bad}") from None
    error, statistics, render = _answer_parts(parsed)
    tables = parsed.get("tables") or []
    if not isinstance(tables, list) or not tables:
        return DecodedAnswer(None, (), error, statistics, render)
    primary = tables[0]
    if not isinstance(primary, Mapping):
        raise AnswerDecodeError("The answer's first table is not a JSON object.")
    names, types = _columns_of(primary.get("columns") or [])
    rows = _check_rows(primary.get("rows") or [], len(names))
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    native = [_native_values(values, la_type) for values, la_type in zip(columns, types, strict=True)]
    table = table_from_rows(names, types, list(zip(*native, strict=True)) if rows else [])
    return DecodedAnswer(table, tuple(types), error, statistics, render)


def decode_answer(body: bytes, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> DecodedAnswer:
    """Decode a whole Log Analytics query answer into its primary table (Arrow) and the rest."""
    decoder = AnswerDecoder(chunk_bytes=chunk_bytes)
    decoder.feed(body)
    return decoder.finish()
