"""The `/` filter every list area shares: regex when it is one, literal text otherwise, `!` inverts."""

from __future__ import annotations

import re


def compile_filter(text: str) -> tuple[re.Pattern[str] | None, bool]:
    """A case-insensitive pattern from `/` text (regex if valid, else literal) and whether `!` inverts it."""
    inverse = text.startswith("!")
    body = text[1:] if inverse else text
    if not body:
        return None, inverse
    try:
        return re.compile(body, re.IGNORECASE), inverse
    except re.error:
        return re.compile(re.escape(body), re.IGNORECASE), inverse


def filter_problem(text: str) -> str | None:
    """Why `/` text is not a valid regular expression (it is then matched as plain text), or None."""
    body = text[1:] if text.startswith("!") else text
    try:
        re.compile(body)
    except re.error as error:
        return f"not a valid regex ({error}); matching it as plain text"
    return None
