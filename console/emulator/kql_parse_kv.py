"""Kusto's `parse-kv` operator, which duckdb-kql's grammar does not know.

`T | parse-kv Text as (Key1: type1, ...) with (options)` is rewritten, before the query is parsed,
into `T | extend Key1 = totype1(__kql_parse_kv(Text, 'Key1', ...)), ...`; `__kql_parse_kv` is a
special form of the translator that finds one key's value in SQL. Supported: the mode with a pair
and a key-value delimiter (each a single character), with quotes (one or two characters: opening
and closing), escape characters and greedy values, and the regex mode. The mode with no delimiters
(where Kusto treats any character that is not a letter or digit as one) is refused, as is a key
that appears more than once in a text (which of them Kusto takes is not documented).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from duckdb_kql import ir as kql_ir
from duckdb_kql import translate as kql_translate

from console.emulator.kql_operators import TYPE_CONVERSIONS
from console.emulator.kql_units import KqlRefusalError

__all__ = ["PARSE_KV_FUNCTION", "ParseKvKey", "parse_kv_extend", "parse_kv_forms"]

PARSE_KV_FUNCTION = "__kql_parse_kv"


@dataclass(frozen=True)
class ParseKvKey:
    """One key to extract: its column name as written (`Text`, `['event time']`), its name and type."""

    column: str
    name: str
    kind: str


def _refuse(reason: str) -> KqlRefusalError:
    return KqlRefusalError(f"parse-kv: {reason} is not supported by this local Log Analytics.")


def _kql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_kv_extend(subject: str, keys: list[ParseKvKey], options: dict[str, list[str]]) -> str:
    """The `extend` that stands for `parse-kv subject as (keys) with (options)`; option values are as written."""
    known = {"pair_delimiter", "kv_delimiter", "quote", "escape", "greedy", "regex"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise _refuse(f"the option {unknown[0]}")
    if "regex" in options:
        if set(options) != {"regex"}:
            raise _refuse("regex with other options")
        mode_args = ["'regex'", options["regex"][0], "''", "''", "''", "false"]
    else:
        if "pair_delimiter" not in options or "kv_delimiter" not in options:
            raise _refuse("extraction without pair_delimiter and kv_delimiter")
        greedy = options.get("greedy", ["false"])[-1].lower()
        if greedy not in ("true", "false"):
            raise _refuse(f"greedy={greedy}")
        quotes = "+".join(options.get("quote", []))
        escapes = "+".join(options.get("escape", []))
        mode_args = [
            "'delimited'",
            options["pair_delimiter"][-1],
            options["kv_delimiter"][-1],
            quotes or "''",
            escapes or "''",
            greedy,
        ]
    assignments = []
    for key in keys:
        convert = TYPE_CONVERSIONS.get(key.kind.lower())
        if convert is None:
            raise _refuse(f"a key of type {key.kind}")
        call = f"{PARSE_KV_FUNCTION}({subject}, {_kql_string(key.name)}, {', '.join(mode_args)})"
        assignments.append(f"{key.column} = {convert}({call})")
    return "extend " + ", ".join(assignments)


def _literal(node: Any, what: str) -> str:
    if isinstance(node, kql_ir.Literal) and node.kind == "string":
        return str(node.value)
    if isinstance(node, kql_ir.Literal) and isinstance(node.value, bool):
        return "true" if node.value else "false"
    raise _refuse(f"a {what} that is not a literal")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _regex_literal(char: str) -> str:
    return re.escape(char)


def _quoted(quotes: list[tuple[str, str]], escapes: list[str], excluded: str) -> str:
    """A regex for one run of a pair's text: a quoted string (escapes honoured) or a character that is
    neither a quote nor in `excluded`."""
    runs = []
    escape_class = "".join(_regex_literal(e) for e in escapes)
    for opening, closing in quotes:
        inner = f"[^{_regex_literal(closing)}{escape_class}]"
        if escapes:
            inner = f"(?:{inner}|[{escape_class}].)"
        runs.append(f"{_regex_literal(opening)}{inner}*{_regex_literal(closing)}")
    openings = "".join(_regex_literal(opening) for opening, _ in quotes)
    runs.append(f"[^{_regex_literal(excluded)}{openings}]")
    return "(?:" + "|".join(runs) + ")"


def _unquoted(value: str, quotes: list[tuple[str, str]], escapes: list[str]) -> str:
    """SQL: a trimmed key or value, its quotes taken off and its escapes undone."""
    trimmed = f"trim({value})"
    result = trimmed
    for opening, closing in quotes:
        inner = f"substr({trimmed}, 2, length({trimmed}) - 2)"
        for escape in escapes:
            inner = f"regexp_replace({inner}, {_sql_string(_regex_literal(escape) + '(.)')}, '\\1', 'g')"
        result = (
            f"CASE WHEN length({trimmed}) >= 2 AND starts_with({trimmed}, {_sql_string(opening)}) "
            f"AND ends_with({trimmed}, {_sql_string(closing)}) THEN {inner} ELSE {result} END"
        )
    return result


def _render_parse_kv(node: Any) -> str | None:
    if len(node.args) != 8:
        return None
    text = f"CAST({kql_translate.render_expr(node.args[0])} AS VARCHAR)"
    key, mode, pair, kv, quote_text, escape_text, greedy = (_literal(arg, "parse-kv option") for arg in node.args[1:])
    if mode == "regex":
        keys = f"regexp_extract_all({text}, {_sql_string(pair)}, 1)"
        values = f"regexp_extract_all({text}, {_sql_string(pair)}, 2)"
        return _pick(keys, values, key)
    if len(pair) != 1 or len(kv) != 1:
        raise _refuse("a delimiter of more than one character")
    quotes = []
    for quote in filter(None, quote_text.split("+")):
        if len(quote) not in (1, 2):
            raise _refuse(f"the quote {quote!r}")
        quotes.append((quote[0], quote[-1]))
    escapes = [escape for escape in escape_text.split("+") if escape]
    if any(len(escape) != 1 for escape in escapes):
        raise _refuse("an escape of more than one character")
    if pair in "".join(q[0] + q[1] for q in quotes) or kv in "".join(q[0] + q[1] for q in quotes):
        raise _refuse("a quote that is also a delimiter")
    # The pairs: runs of quoted strings and characters other than the pair delimiter.
    tokens = f"regexp_extract_all({text}, {_sql_string(_quoted(quotes, escapes, pair) + '+')})"
    # A token's key is what comes before its first key-value delimiter outside quotes.
    head = _quoted(quotes, escapes, kv) + "*"
    has_key = f"regexp_matches(t, {_sql_string('^' + head + _regex_literal(kv))})"
    if greedy == "true":
        # A value runs on over the tokens that have no key, up to the next one that has.
        starts = (
            f"list_filter(range(1, len({tokens}) + 1), lambda i: list_transform([{tokens}[i]], lambda t: {has_key})[1])"
        )
        pairs = (
            f"list_transform({starts}, lambda s, n: array_to_string({tokens}[s:coalesce({starts}[n + 1] - 1, "
            f"len({tokens}))], {_sql_string(pair)}))"
        )
    else:
        pairs = f"list_filter({tokens}, lambda t: {has_key})"
    split = f"regexp_extract(p, {_sql_string('^(' + head + ')' + _regex_literal(kv) + '(.*)$')}, ['k', 'v'])"
    entries = f"list_transform({pairs}, lambda p: {split})"
    keys = f"list_transform({entries}, lambda e: {_unquoted('e.k', quotes, escapes)})"
    values = f"list_transform({entries}, lambda e: {_unquoted('e.v', quotes, escapes)})"
    return _pick(keys, values, key)


def _pick(keys: str, values: str, key: str) -> str:
    """SQL: the value of `key`, null when it is absent, refused when it appears more than once."""
    wanted = _sql_string(key)
    return (
        f"CASE WHEN len(list_filter({keys}, lambda k: k = {wanted})) > 1 "
        f"THEN error({_sql_string(f'parse-kv: the key {key} appears more than once')}) "
        f"ELSE ({values})[list_position({keys}, {wanted})] END"
    )


def parse_kv_forms() -> dict[str, Callable[[Any], str | None]]:
    """The translator's special form behind the rewritten operator."""
    return {PARSE_KV_FUNCTION: _render_parse_kv}
