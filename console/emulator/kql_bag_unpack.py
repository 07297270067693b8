"""Kusto's `evaluate bag_unpack(...)` as the last operator of a query.

Its output columns are the keys found in the data, so they cannot be known when the query is
translated: the engine runs the query without it and this module unpacks the answer. Each key
becomes a dynamic column (sorted by name, after the input's other columns), optionally prefixed;
`ignoredProperties` drops keys; `columnsConflict` decides a key that names an input column
(`keep_source`, `replace_source` in place; the default, `error`, refuses). What is not certain —
an output schema (`: (...)`), a cell that is not a property bag, names that sort differently
ignoring case — is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.emulator.kql_engine import QueryOutcome

__all__ = ["BagUnpack", "BagUnpackError"]


class BagUnpackError(Exception):
    """A bag_unpack this local Log Analytics refuses, with the sentence to answer."""


@dataclass(frozen=True)
class BagUnpack:
    """One trailing `evaluate bag_unpack(column[, prefix][, columnsConflict=...][, ignoredProperties=...])`."""

    column: str
    prefix: str = ""
    conflict: str = "error"
    ignored: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.conflict not in ("error", "keep_source", "replace_source"):
            raise BagUnpackError(f"bag_unpack: columnsConflict='{self.conflict}' is not supported.")

    def apply(self, outcome: QueryOutcome) -> QueryOutcome:
        """The answer of the query before bag_unpack, unpacked."""
        names = [column["name"] for column in outcome.columns]
        if self.column not in names:
            raise BagUnpackError(f"Failed to resolve scalar expression named '{self.column}'.")
        position = names.index(self.column)
        if outcome.columns[position]["type"] != "dynamic":
            raise BagUnpackError(f"bag_unpack: the column '{self.column}' is not dynamic.")
        rows = outcome.rows()
        bags = [_bag(row[position]) for row in rows]
        keys = sorted({key for bag in bags for key in bag} - set(self.ignored))
        if keys != sorted(keys, key=str.casefold):
            raise BagUnpackError("bag_unpack: keys that sort differently ignoring case are not supported here.")
        kept = [name for name in names if name != self.column]
        new = {self.prefix + key: key for key in keys}
        clashes = [name for name in new if name in kept]
        if clashes and self.conflict == "error":
            raise BagUnpackError(f"bag_unpack: the column '{clashes[0]}' already exists (see columnsConflict).")
        if self.conflict == "keep_source":
            new = {name: key for name, key in new.items() if name not in kept}
        order = kept + [name for name in new if name not in kept]
        columns = [
            {"name": name, "type": "dynamic"} if name in new else outcome.columns[names.index(name)] for name in order
        ]
        unpacked = [
            [_cell(bag.get(new[name])) if name in new else row[names.index(name)] for name in order]
            for row, bag in zip(rows, bags, strict=True)
        ]
        from console.emulator.kql_engine import encode_rows  # the engine imports this module

        return replace(outcome, columns=columns, rows_json=encode_rows(unpacked), row_count=len(unpacked))


def _bag(cell: Any) -> dict[str, Any]:
    if cell is None:
        return {}
    value = json.loads(cell) if isinstance(cell, str) else cell
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BagUnpackError("bag_unpack: a value that is not a property bag is not supported here.")
    return value


def _cell(value: Any) -> Any:
    """A dynamic value as the query API writes one: a string as itself, anything else as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
