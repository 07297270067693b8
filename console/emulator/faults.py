"""Faults on demand: rules that make matching requests fail, stall, drop or lie.

A rule matches on method and a path regex (case-insensitive) and then applies, at a rate or for the
next N matches: a status code (with an optional Retry-After), added latency, a dropped connection, a
malformed body, or a long-running operation that ends Failed.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any


class FaultSpecError(ValueError):
    """A fault rule that cannot be understood; the message says which part."""


@dataclass
class FaultRule:
    """One fault. `count` None means every match (subject to `rate`)."""

    path: str = ".*"
    method: str | None = None
    status: int | None = None
    rate: float = 1.0
    count: int | None = None
    retry_after: float | None = None
    latency_ms: float = 0.0
    drop: bool = False
    malformed: bool = False
    lro_fail: bool = False
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self._pattern = re.compile(self.path, re.IGNORECASE)
        except re.error as error:
            raise FaultSpecError(f"path {self.path!r} is not a valid regular expression: {error}") from None
        if not 0.0 <= self.rate <= 1.0:
            raise FaultSpecError(f"rate must be between 0 and 1, not {self.rate}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise FaultSpecError(f"status must be an HTTP status code, not {self.status}")

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self._pattern.search(path) is not None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


_FIELDS: dict[str, type] = {
    "path": str,
    "method": str,
    "status": int,
    "rate": float,
    "count": int,
    "retry_after": float,
    "latency_ms": float,
    "drop": bool,
    "malformed": bool,
    "lro_fail": bool,
}


def rule_from_mapping(raw: dict[str, Any]) -> FaultRule:
    """Build a rule from a JSON object or parsed spec, checking every key and value."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        wanted = _FIELDS.get(key)
        if wanted is None:
            raise FaultSpecError(f"unknown fault field {key!r}; known: {', '.join(_FIELDS)}")
        try:
            if wanted is bool:
                values[key] = value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes"}
            else:
                values[key] = wanted(value)
        except (TypeError, ValueError):
            raise FaultSpecError(f"fault field {key} must be {wanted.__name__}, not {value!r}") from None
    return FaultRule(**values)


def parse_fault_spec(spec: str) -> list[FaultRule]:
    """Parse `--faults`: rules separated by `;`, fields `key=value` separated by `,`.

    Example: `path=/resources,status=503,rate=0.2;path=/query,latency_ms=100`. A bare flag such as
    `drop` means `drop=true`.
    """
    rules = []
    for chunk in filter(None, (part.strip() for part in spec.split(";"))):
        raw: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in chunk.split(","))):
            key, sep, value = item.partition("=")
            raw[key.strip()] = value.strip() if sep else True
        rules.append(rule_from_mapping(raw))
    return rules


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request."""

    status: int | None = None
    retry_after: float | None = None
    latency_ms: float = 0.0
    drop: bool = False
    malformed: bool = False
    lro_fail: bool = False


class FaultInjector:
    """The active rules; thread-safe, deterministic for a given seed."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int = 7) -> None:
        self._rules = list(rules or [])
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def replace(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules = list(rules)

    def add(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules.extend(rules)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide(self, method: str, path: str) -> FaultDecision:
        """Combine every matching rule that fires for this request."""
        status = retry_after = None
        latency = 0.0
        drop = malformed = lro_fail = False
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, path):
                    continue
                if rule.count is not None:
                    if rule.count <= 0:
                        continue
                elif self._random.random() >= rule.rate:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                latency += rule.latency_ms
                if rule.status is not None and status is None:
                    status, retry_after = rule.status, rule.retry_after
                drop = drop or rule.drop
                malformed = malformed or rule.malformed
                lro_fail = lro_fail or rule.lro_fail
        return FaultDecision(status, retry_after, latency, drop, malformed, lro_fail)
