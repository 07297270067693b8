"""Runbooks: Markdown files of KQL steps with typed parameters and small declarative checks.

A runbook file looks like this::

    ---
    title: High failure rate for an app
    description: One line for the list view.
    tags: [appservice, reliability]
    parameters:
      - name: app
        type: string
        default: app-checkout-prod
        description: The web app (AppRoleName).
        allowed: [app-checkout-prod, app-catalog-prod]
      - name: window
        type: timespan
        default: 1h
    ---
    Prose in Markdown.

    ```kql name="failure rate" check="max(failure_pct) < 5"
    AppRequests | where TimeGenerated > ago(window) and AppRoleName == app | ...
    ```

Parameter types are ``string``, ``int``, ``long``, ``real``, ``bool``, ``datetime``, ``timespan`` and
``list[T]`` for T one of ``string``, ``int``, ``long``, ``real``, ``bool`` (bound as a ``dynamic([...])``,
for ``where Col in (p)``).

A ``kql`` fence is a step. Its info string may carry ``name="..."`` and ``check="..."`` (either quote
style; use single quotes around a check that holds double quotes), or ``enough="..."`` in place of
``check``: a check that there is enough data to judge by (``value(requests) >= min_requests``). When it
does not hold, the step and the whole run are inconclusive, whatever the other checks say: a failure
rate of one request in three decides nothing. Checks are one of::

    rows OP N            the row count
    max(col) OP N        the largest / smallest value of a column (no value -> the check fails)
    min(col) OP N
    value(col) OP LIT    the column of a one-row result
    any(col OP LIT)      at least one row satisfies the comparison

with OP one of ``< <= > >= == !=`` and N / LIT a number, a quoted string, ``true``, ``false`` or the name
of a runbook parameter (``value(failure_pct) <= threshold``). An empty cell or NaN counts as no value,
and a check on no value fails. A step without a check only gathers evidence.

Values typed by a user: ``timespan`` takes ``30m``, ``1h``, ``2d``, ``250ms``, ``00:15:00``,
``1.02:03:04`` or ISO ``PT1H``; ``datetime`` takes ISO 8601, read as UTC when it carries no offset;
lists take a JSON array or comma-separated values.

Parameters are never pasted into step text: they become a prelude of ``let name = <typed literal>;``
statements in front of the unchanged step, so no value can change what a query does.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from console.durations import parse_timespan
from console.kql import datetime_text, real_text, string_literal, timespan_text
from console.models import QueryResult

__all__ = [
    "SCALAR_TYPES",
    "BoundValue",
    "Check",
    "CheckOutcome",
    "Parameter",
    "Runbook",
    "RunbookError",
    "Step",
    "bind_parameters",
    "bound_query",
    "kql_literal",
    "load_runbooks",
    "parse_check",
    "parse_runbook",
    "parse_value",
    "render_prelude",
    "shipped_runbooks_dir",
]

SCALAR_TYPES = ("string", "int", "long", "real", "bool", "datetime", "timespan")
LIST_ELEMENT_TYPES = ("string", "int", "long", "real", "bool")

#: A bound parameter value; lists are tuples so runbooks stay immutable.
BoundValue = str | int | float | bool | datetime | timedelta | tuple[Any, ...]

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)
# The engine holds a timespan as int64 nanoseconds and wraps silently past ~106,751 days.
_MAX_TIMESPAN = timedelta(days=100_000)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names a parameter may not take: they are KQL keywords, so `let <name> = ...` would not parse
# or would read as something else.
_KQL_KEYWORDS = (
    "and or not let set declare print where project extend summarize by on join union take limit top "
    "sort order asc desc in has contains between true false null datatable range from to step with "
    "kind count distinct as of materialize toscalar dynamic bool int long real double string datetime "
    "timespan time date guid decimal evaluate invoke parse render search find lookup mv-expand typeof "
    "database cluster table view alias pattern restrict access facet fork partition sample scan "
    "serialize getschema project-away project-rename project-reorder nulls first last contains_cs "
    "has_cs"
)
_RESERVED_NAMES = frozenset(_KQL_KEYWORDS.split())


class RunbookError(Exception):
    """A runbook that cannot be read or bound, told as one sentence with its file line when known."""

    def __init__(self, message: str, line: int | None = None, path: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path

    def __str__(self) -> str:
        if self.path is not None and self.line is not None:
            return f"{self.path}:{self.line}: {self.message}"
        if self.path is not None:
            return f"{self.path}: {self.message}"
        if self.line is not None:
            return f"line {self.line}: {self.message}"
        return self.message


# ---------------------------------------------------------------------------------------------------
# Parameters and typed values
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One typed runbook parameter; `default` is None when the parameter is required."""

    name: str
    type: str
    default: BoundValue | None = None
    description: str = ""
    allowed: tuple[BoundValue, ...] = ()
    line: int | None = None

    @property
    def is_list(self) -> bool:
        return self.type.startswith("list[")

    @property
    def element_type(self) -> str:
        return self.type[5:-1] if self.is_list else self.type

    @property
    def required(self) -> bool:
        return self.default is None


def _normalise_type(spelling: str) -> str | None:
    compact = spelling.replace(" ", "").lower()
    if compact in SCALAR_TYPES:
        return compact
    if compact.startswith("list[") and compact.endswith("]") and compact[5:-1] in LIST_ELEMENT_TYPES:
        return compact
    return None


def _describe_type(type_: str) -> str:
    examples = {
        "string": "text",
        "int": "a whole number between -2147483648 and 2147483647",
        "long": "a whole number",
        "real": "a number such as 2.5",
        "bool": "true or false",
        "datetime": "an ISO 8601 time such as 2026-11-26T10:00:00Z",
        "timespan": "a duration such as 30m, 1h, 2d, 00:15:00 or PT1H",
    }
    if type_.startswith("list["):
        return f"a list of {type_[5:-1]} values, as a JSON array or separated by commas"
    return examples[type_]


_INTEGER = re.compile(r"^[+-]?\d+$")
_REAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def _check_text(name: str, value: str) -> str:
    if "\x00" in value:
        raise RunbookError(f"parameter '{name}' contains a NUL character, which a KQL string cannot hold")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RunbookError(f"parameter '{name}' is not valid Unicode text") from None
    return value


def _check_scalar(name: str, type_: str, value: Any) -> BoundValue:
    """Validate an already-typed value, so rendering never trusts what it is handed."""
    wrong = RunbookError(f"parameter '{name}' must be {_describe_type(type_)}, not {value!r}")
    if type_ == "string":
        if not isinstance(value, str):
            raise wrong
        return _check_text(name, value)
    if type_ in ("int", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong
        low, high = _INT_RANGE if type_ == "int" else _LONG_RANGE
        if not low <= value <= high:
            raise RunbookError(f"parameter '{name}' is out of range for {type_}: {value} (from {low} to {high})")
        return value
    if type_ == "real":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        number = float(value)
        if math.isnan(number):
            raise RunbookError(f"parameter '{name}' is not a number (NaN); give a real number")
        return number
    if type_ == "bool":
        if not isinstance(value, bool):
            raise wrong
        return value
    if type_ == "datetime":
        if not isinstance(value, datetime):
            raise wrong
        try:
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError:
            raise RunbookError(f"parameter '{name}' is outside the years 0001 to 9999 in UTC") from None
    if type_ == "timespan":
        if not isinstance(value, timedelta):
            raise wrong
        if abs(value) > _MAX_TIMESPAN:
            raise RunbookError(f"parameter '{name}' is longer than {_MAX_TIMESPAN.days} days")
        return value
    raise RunbookError(f"parameter '{name}' has an unknown type '{type_}'")


def _scalar_from_text(name: str, type_: str, text: str) -> BoundValue:
    wrong = RunbookError(f"parameter '{name}' must be {_describe_type(type_)}, not {text!r}")
    stripped = text.strip()
    if type_ == "string":
        return _check_scalar(name, type_, text)
    if type_ in ("int", "long"):
        if not _INTEGER.match(stripped):
            raise wrong
        return _check_scalar(name, type_, int(stripped))
    if type_ == "real":
        lowered = stripped.lower()
        if lowered in ("inf", "+inf", "infinity", "+infinity"):
            return math.inf
        if lowered in ("-inf", "-infinity"):
            return -math.inf
        if not _REAL.match(stripped):
            raise wrong
        number = float(stripped)
        if math.isinf(number):
            raise RunbookError(f"parameter '{name}' is too large for a real: {text!r}")
        return number
    if type_ == "bool":
        lowered = stripped.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise wrong
    if type_ == "datetime":
        try:
            moment = datetime.fromisoformat(stripped.replace("z", "Z"))
        except ValueError:
            raise wrong from None
        return _check_scalar(name, type_, moment)
    if type_ == "timespan":
        try:
            span = parse_timespan(stripped)
        except (ValueError, OverflowError):
            span = None
        if span is None:
            raise wrong
        return _check_scalar(name, type_, span)
    raise RunbookError(f"parameter '{name}' has an unknown type '{type_}'")


def _list_from_text(name: str, element: str, text: str) -> tuple[Any, ...]:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError:
            raise RunbookError(f"parameter '{name}' is not a valid JSON array: {text!r}") from None
        return tuple(_list_element(name, element, item) for item in items)
    if not stripped:
        return ()
    return tuple(_scalar_from_text(name, element, part.strip()) for part in stripped.split(","))


def _list_element(name: str, element: str, item: Any) -> BoundValue:
    if element == "real" and isinstance(item, (int, float)) and not isinstance(item, bool):
        item = float(item)
    value = _check_scalar(name, element, item)
    if isinstance(value, float) and math.isinf(value):
        raise RunbookError(f"parameter '{name}' holds an infinite number, which a list cannot carry")
    return value


def parse_value(parameter: Parameter, text: str) -> BoundValue:
    """Turn the text a user typed into the parameter's typed value, or raise `RunbookError`."""
    if parameter.is_list:
        return _list_from_text(parameter.name, parameter.element_type, text)
    return _scalar_from_text(parameter.name, parameter.type, text)


def _value_from_yaml(name: str, type_: str, value: Any) -> BoundValue:
    """A default or allowed value as YAML read it (already a number, date, list, ...)."""
    if type_.startswith("list["):
        element = type_[5:-1]
        if isinstance(value, str):
            return _list_from_text(name, element, value)
        if not isinstance(value, list):
            raise RunbookError(f"parameter '{name}' must be {_describe_type(type_)}, not {value!r}")
        return tuple(
            _scalar_from_text(name, element, item)
            if isinstance(item, str) and element != "string"
            else _list_element(name, element, item)
            for item in value
        )
    if isinstance(value, str):
        return _scalar_from_text(name, type_, value)
    if type_ == "timespan" and isinstance(value, int):
        # YAML reads 1:30:00 as a base-60 integer; refuse rather than guess what was meant.
        raise RunbookError(f"write the timespan default of '{name}' as a quoted string, such as '1h'")
    if type_ == "datetime" and isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if type_ == "real" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return _check_scalar(name, type_, value)


# ---------------------------------------------------------------------------------------------------
# KQL literals: the one place a value becomes query text
# ---------------------------------------------------------------------------------------------------


def _element_literal(type_: str, value: Any) -> str:
    if type_ == "string":
        return string_literal(value)
    if type_ == "bool":
        return "true" if value else "false"
    if type_ == "real":
        return real_text(value)
    return str(int(value))


def kql_literal(type_: str, value: Any, name: str = "value") -> str:
    """The KQL literal for a typed value, after checking the value really has that type."""
    normal = _normalise_type(type_)
    if normal is None:
        raise RunbookError(f"unknown parameter type '{type_}'")
    if normal.startswith("list["):
        element = normal[5:-1]
        if not isinstance(value, (list, tuple)):
            raise RunbookError(f"parameter '{name}' must be {_describe_type(normal)}, not {value!r}")
        items = [_element_literal(element, _list_element(name, element, item)) for item in value]
        return f"dynamic([{', '.join(items)}])"
    checked = _check_scalar(name, normal, value)
    if isinstance(checked, str):
        return string_literal(checked)
    if isinstance(checked, bool):
        return "true" if checked else "false"
    if normal in ("int", "long"):
        return f"{normal}({checked})"
    if isinstance(checked, float):
        return f"real({real_text(checked)})"
    if isinstance(checked, datetime):
        return f"datetime({datetime_text(checked)})"
    if isinstance(checked, timedelta):
        return f"timespan({timespan_text(checked)})"
    raise RunbookError(f"parameter '{name}' has a value of an unexpected kind: {value!r}")


def render_prelude(parameters: Sequence[Parameter], values: Mapping[str, Any]) -> str:
    """`let name = <literal>;` lines, one per parameter, ending in a newline (empty without parameters)."""
    lines = []
    for parameter in parameters:
        if not _IDENTIFIER.match(parameter.name) or parameter.name.lower() in _RESERVED_NAMES:
            raise RunbookError(f"'{parameter.name}' cannot be a parameter name")
        if parameter.name not in values:
            raise RunbookError(f"parameter '{parameter.name}' has no value")
        literal = kql_literal(parameter.type, values[parameter.name], parameter.name)
        lines.append(f"let {parameter.name} = {literal};\n")
    return "".join(lines)


# ---------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------

_CHECK_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op><=|>=|==|!=|<|>)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<paren>[()])
    )""",
    re.VERBOSE,
)
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_CHECK_FORMS = (
    "rows OP N, max(col) OP N, min(col) OP N, value(col) OP literal or any(col OP literal), "
    "where N or literal may be a parameter name"
)


@dataclass(frozen=True)
class CheckOutcome:
    """What a check saw: whether it held, the observed value, and a sentence saying so.

    An inconclusive outcome (the check ran on a partial result) never counts as held: `passed` is False.
    """

    passed: bool
    observed: Any
    sentence: str
    inconclusive: bool = False

    @property
    def verdict(self) -> str:
        """pass, fail or inconclusive."""
        return "inconclusive" if self.inconclusive else "pass" if self.passed else "fail"


@dataclass(frozen=True)
class Check:
    """A parsed check: `kind` is rows, max, min, value or any.

    The right-hand side is a literal (`expected`) or the name of a runbook parameter (`parameter`),
    whose bound value is passed to `evaluate`.
    """

    source: str
    kind: str
    operator: str
    expected: float | int | str | bool | None = None
    column: str | None = None
    parameter: str | None = None

    def evaluate(self, result: QueryResult | pa.Table, parameters: Mapping[str, Any] | None = None) -> CheckOutcome:
        """Evaluate against a query result (or its Arrow table) and the runbook's bound parameters.

        On a partial result (data still arriving, capped, or a partial error) the outcome is inconclusive,
        whatever the rows say: more rows could turn a pass into a fail, and the other way round.
        """
        table = result.table if isinstance(result, QueryResult) else result
        outcome = self._evaluate(table, parameters)
        if isinstance(result, QueryResult) and (result.partial_error or result.truncated):
            why = result.partial_error or "the result was truncated"
            return CheckOutcome(
                False,
                outcome.observed,
                f"Inconclusive, the result is partial ({why.rstrip('.')}): {outcome.sentence}",
                inconclusive=True,
            )
        return outcome

    def _evaluate(self, table: pa.Table, parameters: Mapping[str, Any] | None) -> CheckOutcome:
        expected = self.expected
        if self.parameter is not None:
            if parameters is None or self.parameter not in parameters:
                missing = f"parameter '{self.parameter}' has no value"
                return CheckOutcome(False, None, f"{self.source} cannot be checked: {missing}.")
            expected = _python(parameters[self.parameter])
        if self.kind == "rows":
            rows = int(table.num_rows)
            seen = f"the query returned {rows} row{'s' * (rows != 1)}"
            return self._outcome(self._holds(rows, expected), rows, seen, expected)
        assert self.column is not None
        if self.column not in table.column_names:
            return CheckOutcome(False, None, f"{self.source} cannot be checked: {self._missing(table)}")
        column = table.column(self.column)
        if self.kind in ("max", "min"):
            if not (
                pa.types.is_integer(column.type)
                or pa.types.is_floating(column.type)
                or pa.types.is_decimal(column.type)
            ):
                return CheckOutcome(
                    False,
                    None,
                    f"{self.source} cannot be checked: {self.column} holds {column.type}, not numbers.",
                )
            values = [v for v in (_python(item) for item in column.to_pylist()) if v is not None]
            label = f"{self.kind}({self.column})"
            if not values:
                return CheckOutcome(False, None, f"{self.source} failed: {label} has no value (no rows, or all empty).")
            observed = max(values) if self.kind == "max" else min(values)
            seen = f"{label} is {_show(observed)}"
            return self._outcome(self._holds(observed, expected), observed, seen, expected)
        if self.kind == "value":
            if table.num_rows != 1:
                return CheckOutcome(
                    False,
                    None,
                    f"{self.source} failed: value({self.column}) needs a one-row result, "
                    f"and the query returned {table.num_rows} rows.",
                )
            observed = _python(column[0].as_py())
            if observed is None:
                return CheckOutcome(False, None, f"{self.source} failed: {self.column} has no value.")
            return self._outcome(
                self._holds(observed, expected), observed, f"{self.column} is {_show(observed)}", expected
            )
        matches = 0
        for item in column.to_pylist():
            verdict = self._holds(_python(item), expected)
            if isinstance(verdict, str):
                return CheckOutcome(False, None, f"{self.source} cannot be checked: {verdict}.")
            matches += bool(verdict)
        seen = f"{matches} of {table.num_rows} rows match"
        return self._outcome(matches > 0, matches, seen, expected)

    def _holds(self, observed: Any, expected: Any) -> bool | str:
        """True/False, or a sentence when the two sides cannot be compared."""
        if observed is None:
            return False
        if _kind_of(observed) != _kind_of(expected):
            return f"{self.column} is {_show(observed)}, which cannot be compared with {_show(expected)}"
        return bool(_OPERATORS[self.operator](observed, expected))

    def _outcome(self, verdict: bool | str, observed: Any, seen: str, expected: Any) -> CheckOutcome:
        if isinstance(verdict, str):
            return CheckOutcome(False, observed, f"{self.source} cannot be checked: {verdict}.")
        word = "held" if verdict else "failed"
        if self.parameter is not None:
            seen = f"{seen} ({self.parameter} is {_show(expected)})"
        return CheckOutcome(verdict, observed, f"{self.source} {word}: {seen}.")

    def _missing(self, table: pa.Table) -> str:
        names = table.column_names
        near = [name for name in names if name.lower() == (self.column or "").lower()]
        hint = f" (did you mean {near[0]}?)" if near else ""
        listing = ", ".join(names) if names else "none"
        return f"the result has no column '{self.column}'{hint}; its columns are: {listing}."


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "text" if isinstance(value, str) else type(value).__name__


def _python(value: Any) -> Any:
    """A plain Python value; NaN counts as no value, as it does in a Log Analytics result."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    return str(value)


def parse_check(text: str, parameters: Sequence[Parameter] | None = None) -> Check:
    """Parse a check such as `rows == 0` or `max(p95_ms) < 800`; raise `RunbookError` if it is not one.

    When `parameters` is given, a bare name on the right-hand side must be one of them.
    """
    tokens: list[tuple[str, str]] = []
    position = 0
    source = text.strip()
    while position < len(source):
        found = _CHECK_TOKEN.match(source, position)
        if found is None or found.end() == position:
            unexpected = source[position:].strip()[:20]
            raise RunbookError(f"check {text!r}: unexpected {unexpected!r}; write {_CHECK_FORMS}")
        kind = found.lastgroup or ""
        tokens.append((kind, found.group(kind)))
        position = found.end()
        while position < len(source) and source[position].isspace():
            position += 1

    def fail(why: str) -> RunbookError:
        return RunbookError(f"check {text!r}: {why}; write {_CHECK_FORMS}")

    def right_side(token: tuple[str, str], numeric: bool) -> dict[str, Any]:
        kind, raw = token
        if kind == "number":
            return {"expected": int(raw) if _INTEGER.match(raw) else float(raw)}
        if kind == "name" and raw in ("true", "false"):
            if numeric:
                raise fail(f"{head} is compared with a number")
            return {"expected": raw == "true"}
        if kind == "string":
            if numeric:
                raise fail(f"{head} is compared with a number")
            return {"expected": re.sub(r"\\(.)", r"\1", raw[1:-1])}
        if kind == "name":
            return {"parameter": _check_parameter(raw, numeric, parameters, fail)}
        raise fail(f"{raw!r} is not a number, a quoted string, true, false or a parameter name")

    shape = [kind for kind, _ in tokens]
    values = [raw for _, raw in tokens]
    if not tokens or shape[0] != "name":
        raise fail("it must start with rows, max, min, value or any")
    head = values[0]
    if head == "rows":
        if shape[1:2] != ["op"] or len(tokens) != 3:
            raise fail("rows is compared with a number")
        return Check(source, "rows", values[1], **right_side(tokens[2], numeric=True))
    if head in ("max", "min", "value"):
        well_formed = shape[1:5] == ["paren", "name", "paren", "op"] and len(tokens) == 6
        if not well_formed or values[1] != "(" or values[3] != ")":
            raise fail(f"{head} takes one column name in parentheses, then a comparison")
        side = right_side(tokens[5], numeric=head != "value")
        return Check(source, head, values[4], column=values[2], **side)
    if head == "any":
        well_formed = shape[1:4] == ["paren", "name", "op"] and len(tokens) == 6
        if not well_formed or values[1] != "(" or values[5] != ")":
            raise fail('any takes a comparison in parentheses, such as any(ResultCode == "500")')
        return Check(source, "any", values[3], column=values[2], **right_side(tokens[4], numeric=False))
    raise fail(f"{head!r} is not a check")


def _check_parameter(
    name: str, numeric: bool, parameters: Sequence[Parameter] | None, fail: Callable[[str], RunbookError]
) -> str:
    if parameters is None:
        return name
    parameter = next((p for p in parameters if p.name == name), None)
    if parameter is None:
        raise fail(f"{name!r} is neither a literal nor a parameter of this runbook")
    comparable = ("int", "long", "real") if numeric else ("int", "long", "real", "string", "bool")
    if parameter.type not in comparable:
        raise fail(f"parameter '{name}' is a {parameter.type}, which this check cannot compare with")
    return name


# ---------------------------------------------------------------------------------------------------
# Runbooks
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One `kql` fence: its query text exactly as written, an optional check and the prose before it."""

    name: str
    kql: str
    check: Check | None = None
    line: int | None = None
    prose: str = ""
    enough: bool = False
    """The check says whether there is enough data to judge by; when it does not hold the run is inconclusive."""


@dataclass(frozen=True)
class Runbook:
    """A parsed runbook file; `name` is the file stem and `prose` the Markdown after the front matter."""

    name: str
    title: str
    description: str
    tags: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    steps: tuple[Step, ...]
    prose: str
    path: Path | None = None
    workspace: str | None = None
    scope: str | None = None

    def parameter(self, name: str) -> Parameter | None:
        """The parameter called `name`, if there is one."""
        return next((p for p in self.parameters if p.name == name), None)


_FRONT_KEYS = ("title", "description", "tags", "parameters", "workspace", "scope")
_PARAMETER_KEYS = ("name", "type", "default", "description", "allowed")
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
_ATTRIBUTE = re.compile(r"""\s*(?P<key>[A-Za-z_][\w-]*)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')""")


class _Lines:
    """File line numbers for paths into the front matter (`("parameters", 2, "type")`)."""

    def __init__(self, root: yaml.Node | None, offset: int) -> None:
        self._lines: dict[tuple[Any, ...], int] = {}
        self._offset = offset
        self.duplicate: tuple[str, int] | None = None
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self._lines[path] = node.start_mark.line + self._offset
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else repr(key.value)
                if name in seen and self.duplicate is None:
                    self.duplicate = (str(name), key.start_mark.line + self._offset)
                seen.add(name)
                self._walk(value, (*path, name))
                self._lines[(*path, name)] = key.start_mark.line + self._offset
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def at(self, *path: Any) -> int:
        while path and path not in self._lines:
            path = path[:-1]
        return self._lines.get(path, self._offset)


def _split_front_matter(text: str) -> tuple[str, str, int]:
    """(front matter, body, file line where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise RunbookError("a runbook starts with a front-matter block: a '---' line, YAML, then '---'", 1)
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise RunbookError("the front matter opened on line 1 is never closed with a '---' line", 1)


def _load_yaml(front: str) -> tuple[Any, _Lines]:
    loader = yaml.SafeLoader(front)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 2 if mark is not None else 1
        raise RunbookError(f"the front matter is not valid YAML: {error.problem or error}", line) from None
    except yaml.YAMLError as error:
        raise RunbookError(f"the front matter is not valid YAML: {error}", 1) from None
    finally:
        loader.dispose()
    # Front matter line 1 is file line 2.
    return data, _Lines(node, 2)


def _text_field(data: Mapping[str, Any], key: str, lines: _Lines, *path: Any) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise RunbookError(f"'{key}' must be text", lines.at(*path, key))
    return str(value)


def _parse_parameters(raw: Any, lines: _Lines) -> tuple[Parameter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RunbookError(
            "'parameters' must be a list of parameters, each with a name and a type", lines.at("parameters")
        )
    parameters: list[Parameter] = []
    for index, entry in enumerate(raw):
        line = lines.at("parameters", index)
        if not isinstance(entry, dict):
            raise RunbookError("each parameter must be a mapping with a name and a type", line)
        for key in entry:
            if key not in _PARAMETER_KEYS:
                raise RunbookError(
                    f"unknown parameter key '{key}' (allowed: {', '.join(_PARAMETER_KEYS)})",
                    lines.at("parameters", index, key),
                )
        name = entry.get("name")
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise RunbookError(
                f"parameter name {name!r} must be a KQL identifier such as 'window'",
                lines.at("parameters", index, "name"),
            )
        if name.lower() in _RESERVED_NAMES:
            raise RunbookError(
                f"parameter name '{name}' is a KQL keyword; choose another",
                lines.at("parameters", index, "name"),
            )
        if any(p.name == name for p in parameters):
            raise RunbookError(f"parameter '{name}' is declared twice", lines.at("parameters", index, "name"))
        spelled = entry.get("type")
        type_ = _normalise_type(spelled) if isinstance(spelled, str) else None
        if type_ is None:
            raise RunbookError(
                f"parameter '{name}' has unknown type {spelled!r}; use one of {', '.join(SCALAR_TYPES)} "
                f"or list[T] for T in {', '.join(LIST_ELEMENT_TYPES)}",
                lines.at("parameters", index, "type"),
            )
        default: BoundValue | None = None
        if entry.get("default") is not None:
            try:
                default = _value_from_yaml(name, type_, entry["default"])
            except RunbookError as error:
                line_of_default = lines.at("parameters", index, "default")
                raise RunbookError(f"default: {error.message}", line_of_default) from None
        allowed_raw = entry.get("allowed") or []
        if not isinstance(allowed_raw, list):
            raise RunbookError(
                f"'allowed' of parameter '{name}' must be a list", lines.at("parameters", index, "allowed")
            )
        allowed: list[BoundValue] = []
        element_type = type_[5:-1] if type_.startswith("list[") else type_
        for position, item in enumerate(allowed_raw):
            try:
                allowed.append(_value_from_yaml(name, element_type, item))
            except RunbookError as error:
                raise RunbookError(
                    f"allowed: {error.message}", lines.at("parameters", index, "allowed", position)
                ) from None
        parameter = Parameter(
            name=name,
            type=type_,
            default=default,
            description=str(entry.get("description") or ""),
            allowed=tuple(allowed),
            line=line,
        )
        if default is not None:
            problem = _not_allowed(parameter, default)
            if problem:
                raise RunbookError(f"default: {problem}", lines.at("parameters", index, "default"))
        parameters.append(parameter)
    return tuple(parameters)


def _parse_steps(body: str, first_line: int, parameters: Sequence[Parameter]) -> tuple[Step, ...]:
    steps: list[Step] = []
    lines = body.splitlines()
    prose: list[str] = []
    index = 0
    while index < len(lines):
        opened = _FENCE.match(lines[index])
        if opened is None:
            prose.append(lines[index])
            index += 1
            continue
        fence = opened.group("fence")
        info = opened.group("info").strip()
        language, _, attributes = info.partition(" ")
        start = index
        index += 1
        content: list[str] = []
        while index < len(lines):
            closing = lines[index].strip()
            if closing.startswith(fence[0]) and set(closing) == {fence[0]} and len(closing) >= len(fence):
                break
            content.append(lines[index])
            index += 1
        else:
            if language.lower() == "kql":
                raise RunbookError("this kql block is never closed", first_line + start)
        index += 1
        if language.lower() != "kql":
            prose.extend(lines[start:index])
            continue
        line = first_line + start
        options = _parse_attributes(attributes, line)
        name = options.get("name") or f"Step {len(steps) + 1}"
        if any(step.name == name for step in steps):
            raise RunbookError(f"two steps are named '{name}'", line)
        kql = "\n".join(content).strip("\n")
        if not kql.strip():
            raise RunbookError(f"step '{name}' has no query", line)
        if "check" in options and "enough" in options:
            raise RunbookError(f"step '{name}' has both check and enough; a step judges one thing", line)
        check = None
        source = options.get("check", options.get("enough"))
        if source is not None:
            try:
                check = parse_check(source, parameters)
            except RunbookError as error:
                raise RunbookError(error.message, line) from None
        steps.append(
            Step(
                name=name,
                kql=kql,
                check=check,
                line=line,
                prose="\n".join(prose).strip(),
                enough="enough" in options,
            )
        )
        prose = []
    return tuple(steps)


def _parse_attributes(text: str, line: int) -> dict[str, str]:
    options: dict[str, str] = {}
    position = 0
    while text[position:].strip():
        found = _ATTRIBUTE.match(text, position)
        if found is None:
            raise RunbookError(
                f'cannot read {text[position:].strip()!r} after ```kql; write name="..." and check="..."',
                line,
            )
        key = found.group("key")
        if key not in ("name", "check", "enough"):
            raise RunbookError(f"unknown step attribute '{key}' (allowed: name, check, enough)", line)
        if key in options:
            raise RunbookError(f"step attribute '{key}' is given twice", line)
        options[key] = found.group("dq") if found.group("dq") is not None else found.group("sq")
        position = found.end()
    return options


def parse_runbook(text: str, name: str, path: Path | None = None) -> Runbook:
    """Parse one runbook file's text; raise `RunbookError` (with a file line when known) if it is not one."""
    try:
        front, body, body_line = _split_front_matter(text)
        data, lines = _load_yaml(front)
        if lines.duplicate is not None:
            raise RunbookError(f"front-matter key '{lines.duplicate[0]}' is given twice", lines.duplicate[1])
        if not isinstance(data, dict):
            raise RunbookError("the front matter must be a YAML mapping with at least a title", 2)
        for key in data:
            if key not in _FRONT_KEYS:
                raise RunbookError(
                    f"unknown front-matter key '{key}' (allowed: {', '.join(_FRONT_KEYS)})", lines.at(key)
                )
        title = _text_field(data, "title", lines)
        if not title or not title.strip():
            raise RunbookError("the front matter has no title", 1)
        tags_raw = data.get("tags") or []
        if isinstance(tags_raw, str):
            tags_raw = [tag.strip() for tag in tags_raw.split(",") if tag.strip()]
        if not isinstance(tags_raw, list) or any(isinstance(tag, (dict, list)) for tag in tags_raw):
            raise RunbookError("'tags' must be a list of words", lines.at("tags"))
        parameters = _parse_parameters(data.get("parameters"), lines)
        steps = _parse_steps(body, body_line, parameters)
        if not steps:
            raise RunbookError("the runbook has no ```kql steps", body_line)
    except RunbookError as error:
        raise RunbookError(error.message, error.line, path) from None
    return Runbook(
        name=name,
        title=title.strip(),
        description=(_text_field(data, "description", lines) or "").strip(),
        tags=tuple(str(tag) for tag in tags_raw),
        parameters=parameters,
        steps=steps,
        prose=body,
        path=path,
        workspace=_text_field(data, "workspace", lines),
        scope=_text_field(data, "scope", lines),
    )


def shipped_runbooks_dir() -> Path:
    """The directory of the runbooks that ship with the product (the `queries` package)."""
    return Path(str(resources.files("queries")))


def load_runbooks(directory: Path) -> list[Runbook]:
    """Every `*.md` runbook in `directory` (README.md excepted), sorted by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunbookError(f"no runbook directory at {directory}")
    runbooks = []
    for path in sorted(directory.glob("*.md")):
        if path.stem.lower() == "readme":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RunbookError(f"cannot read the runbook: {error}", path=path) from None
        runbooks.append(parse_runbook(text, path.stem, path))
    return runbooks


# ---------------------------------------------------------------------------------------------------
# Binding
# ---------------------------------------------------------------------------------------------------


def _not_allowed(parameter: Parameter, value: BoundValue) -> str | None:
    if not parameter.allowed:
        return None
    items = value if parameter.is_list and isinstance(value, tuple) else (value,)
    for item in items:
        if item not in parameter.allowed:
            choices = ", ".join(str(choice) for choice in parameter.allowed)
            return f"parameter '{parameter.name}' cannot be {item!r}; allowed values: {choices}"
    return None


def bind_parameters(runbook: Runbook, raw: Mapping[str, str]) -> dict[str, BoundValue]:
    """Typed values for every parameter: given text parsed, defaults applied, everything validated."""
    problems: list[str] = []
    known = {parameter.name for parameter in runbook.parameters}
    for name in raw:
        if name not in known:
            takes = ", ".join(sorted(known)) or "no parameters"
            problems.append(f"runbook '{runbook.name}' has no parameter '{name}' (it takes: {takes})")
    values: dict[str, BoundValue] = {}
    for parameter in runbook.parameters:
        try:
            if parameter.name in raw:
                value = parse_value(parameter, raw[parameter.name])
            elif parameter.default is not None:
                value = parameter.default
            else:
                raise RunbookError(f"parameter '{parameter.name}' is required: give {_describe_type(parameter.type)}")
            problem = _not_allowed(parameter, value)
            if problem:
                raise RunbookError(problem)
            values[parameter.name] = value
        except RunbookError as error:
            problems.append(error.message)
    if problems:
        raise RunbookError("; ".join(problems))
    return values


def bound_query(step: Step, prelude: str) -> str:
    """The text sent to Log Analytics: the parameter prelude, then the step's query unchanged."""
    return prelude + step.kql
