"""Walking the library's query trees (its IR dataclasses, with lists and tuples between them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from duckdb_kql import ir as kql_ir


def ir_nodes(value: Any, *, into_queries: bool = True) -> Iterator[Any]:
    """Every node under `value`, each once even where the tree shares it (a chain of lets does, so a plain walk
    would grow with the number of paths); without `into_queries`, a subquery is given but not entered."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, (tuple, list)):
            stack.extend(current)
        elif (
            dataclasses.is_dataclass(current)
            and not isinstance(current, type)
            and (into_queries or not isinstance(current, kql_ir.Query))
        ):
            stack.extend(getattr(current, field.name) for field in dataclasses.fields(current))
