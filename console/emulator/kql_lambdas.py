"""Lambda parameters in translated SQL, renamed so that no column can be read in their place.

The function translations name list elements in DuckDB lambdas (`list_transform(l, lambda i: ...)`) and put
the query's own expressions inside those lambdas. DuckDB binds a name to a lambda parameter before a column,
even a quoted one, so a column named `i` would silently read the element instead. The translator quotes every
column (`"i"`) and the templates never quote a lambda parameter, so renaming each parameter's bare uses, within
its lambda, to a private spelling leaves every column reaching its column.
"""

from __future__ import annotations

import re

__all__ = ["PREFIX", "private_lambdas"]

PREFIX = "__kql_l_"

_TOKENS = re.compile(
    r"'(?:[^']|'')*'"  # a string literal
    r'|"(?:[^"]|"")*"'  # a quoted identifier
    r"|[A-Za-z_][A-Za-z0-9_]*"  # a bare word
    r"|\s+|.",
    re.DOTALL,
)
_HEADER = re.compile(r"\s*((?:[A-Za-z_][A-Za-z0-9_]*\s*,\s*)*[A-Za-z_][A-Za-z0-9_]*)\s*:(?!:)")


def private_lambdas(sql: str) -> str:
    """`sql` with every `lambda a, b: body` parameter renamed in its body (not where it is a field, `x.a`, or a
    function, `a(`)."""
    if "lambda" not in sql:
        return sql
    tokens = _TOKENS.findall(sql)
    out: list[str] = []
    # Each open lambda: its parameter names and the parenthesis depth it was opened at.
    scopes: list[tuple[frozenset[str], int]] = []
    depth = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.lower() == "lambda":
            header = _HEADER.match("".join(tokens[index + 1 : index + 40]))
            # A parameter already named privately (`__kql_...`) is left as it is: the translations read some
            # of those through a quoted name on purpose.
            if header is not None and not header.group(1).lstrip().startswith("__kql"):
                names = frozenset(name.strip() for name in header.group(1).split(","))
                scopes.append((names, depth))
                out.append("lambda ")
                out.append(", ".join(PREFIX + name for name in sorted(names, key=header.group(1).index)))
                out.append(":")
                consumed = 0
                while consumed < header.end():
                    index += 1
                    consumed += len(tokens[index])
                index += 1
                continue
        if token in "([{" and len(token) == 1:
            depth += 1
        elif token in ")]}" and len(token) == 1:
            depth -= 1
            while scopes and scopes[-1][1] > depth:
                scopes.pop()
        elif token == "," and scopes and scopes[-1][1] == depth:
            scopes.pop()
        elif scopes and (token[0].isalpha() or token[0] == "_"):
            previous = next((t for t in reversed(out) if not t.isspace()), "")
            following = next((t for t in tokens[index + 1 :] if not t.isspace()), "")
            if previous != "." and following != "(" and any(token in names for names, _ in scopes):
                token = PREFIX + token
        out.append(token)
        index += 1
    return "".join(out)
