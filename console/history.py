"""Query history: one JSON object per line in the settings' history file, newest last, secrets redacted."""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_LIMIT = 1000
"""Entries kept after compaction; the file may grow to twice this before it is rewritten."""

# Literal values that follow a secret-looking name are replaced before anything touches the disk.
_SECRET_ASSIGNMENT = re.compile(
    r"""(?P<name>\b[\w.-]*(?:password|passwd|pwd|secret|token|apikey|api_key|accountkey|sharedaccesskey|sig|sas)"""
    r"""[\w.-]*)(?P<op>\s*(?:==|=~|=|:|\bhas\b|\bcontains\b)\s*)(?P<quote>["'])(?P<value>[^"']*)(?P=quote)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")
_URL_SIGNATURE = re.compile(r"(?i)([?&](?:sig|se|sv|st|sp|skoid|sktid)=)[^&\s\"']+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b")
REDACTED = "<redacted>"


def redact(kql: str) -> str:
    """`kql` with secret-looking literals, bearer tokens, JWTs and SAS signatures replaced."""
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m['name']}{m['op']}{m['quote']}{REDACTED}{m['quote']}", kql)
    text = _BEARER.sub(f"Bearer {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _URL_SIGNATURE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


@dataclass(frozen=True)
class HistoryEntry:
    """One run query: its text (redacted), where and when it ran, and how it went."""

    kql: str
    at: str
    workspace: str = ""
    timespan: str = ""
    rows: int | None = None
    duration_ms: float | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HistoryEntry | None:
        """An entry from a decoded line, or None when the line is not one of ours."""
        kql = data.get("kql")
        if not isinstance(kql, str) or not kql.strip():
            return None
        rows = data.get("rows")
        duration = data.get("duration_ms")
        error = data.get("error")
        return cls(
            kql=kql,
            at=str(data.get("at", "")),
            workspace=str(data.get("workspace", "")),
            timespan=str(data.get("timespan", "")),
            rows=rows if isinstance(rows, int) else None,
            duration_ms=float(duration) if isinstance(duration, int | float) else None,
            error=error if isinstance(error, str) else None,
        )


class QueryHistory:
    """Append-only query history with compaction; readable while another session appends.

    Thread-safe: reading and adding hold one lock, so a read on one thread and a run recorded on another
    never interleave (the file and the kept entries change together).
    """

    def __init__(self, path: Path, limit: int = DEFAULT_LIMIT) -> None:
        self.path = path
        self.limit = max(limit, 500)
        self._entries: list[HistoryEntry] | None = None
        self._lock = threading.RLock()

    def entries(self) -> list[HistoryEntry]:
        """Every kept entry, oldest first (read once, then kept in memory)."""
        with self._lock:
            if self._entries is None:
                self._entries = self._read()
            return list(self._entries)

    def _read(self) -> list[HistoryEntry]:
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []
        found: list[HistoryEntry] = []
        for line in lines:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash is expected; skip it
            if isinstance(data, dict):
                entry = HistoryEntry.from_json(data)
                if entry is not None:
                    found.append(entry)
        return found[-self.limit :]

    def add(
        self,
        kql: str,
        *,
        workspace: str = "",
        timespan: str = "",
        rows: int | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> HistoryEntry | None:
        """Record a run; blank queries are ignored. Returns the entry as stored (redacted)."""
        text = kql.strip()
        if not text:
            return None
        entry = HistoryEntry(
            kql=redact(text),
            at=(at or datetime.now(UTC)).isoformat(timespec="seconds"),
            workspace=workspace,
            timespan=timespan,
            rows=rows,
            duration_ms=round(duration_ms, 1) if duration_ms is not None else None,
            error=redact(error) if error else None,
        )
        with self._lock:
            entries = self.entries()
            entries.append(entry)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if len(entries) > 2 * self.limit:
                entries = entries[-self.limit :]
                self._rewrite(entries)
            else:
                self._append(entry)
            self._entries = entries
        return entry

    def _append(self, entry: HistoryEntry) -> None:
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            handle.write(line)

    def _rewrite(self, entries: list[HistoryEntry]) -> None:
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in entries)
        os.replace(temporary, self.path)

    def search(self, text: str = "", limit: int | None = None) -> list[HistoryEntry]:
        """Newest first, distinct query texts, each containing every word of `text` (case-insensitive)."""
        words = text.lower().split()
        seen: set[str] = set()
        found: list[HistoryEntry] = []
        for entry in reversed(self.entries()):
            key = entry.kql
            if key in seen:
                continue
            lowered = key.lower()
            if all(word in lowered for word in words):
                seen.add(key)
                found.append(entry)
                if limit is not None and len(found) >= limit:
                    break
        return found
