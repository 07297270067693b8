"""The operations journal: an append-only JSON-lines file, one fsync'd line per intent and outcome."""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MASK = "***"

# Parameter names whose values are never written down, and values that carry a secret whatever their name.
_SECRET_NAME = re.compile(
    r"passw(or)?d|passphrase|^pwd$|secret|token|credential|api[-_]?key|access[-_]?key|account[-_]?key|"
    r"private[-_]?key|connection[-_]?string|\bsas\b|signature",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd)=|[?&]sig=|-----BEGIN|\beyJ[\w-]{10,}\.",
    re.IGNORECASE,
)


def mask_secrets(value: Any) -> Any:
    """`value` with secret-looking entries replaced by `***`, through nested mappings and lists."""
    if isinstance(value, dict):
        return {k: MASK if _SECRET_NAME.search(str(k)) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item) for item in value]
    if isinstance(value, str) and _SECRET_VALUE.search(value):
        return MASK
    return value


class Journal:
    """Append-only record of every mutating action: an *intent* line before, an *outcome* line after."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, phase: str, action: str, target: str, **details: Any) -> dict[str, Any]:
        """Append one entry and fsync it before returning."""
        entry = {
            "at": datetime.now(UTC).isoformat(),
            "phase": phase,
            "action": action,
            "target": target,
            **details,
        }
        line = json.dumps(entry, default=str, sort_keys=True) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                # After a crash mid-write the file ends in a torn line; start on a fresh one so this entry survives.
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = "\n" + line
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first; a torn last line (crash mid-write) is skipped."""
        if not self.path.exists():
            return []
        result = []
        for line in self.path.read_text().splitlines():
            try:
                result.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return result

    def unfinished(self) -> list[dict[str, Any]]:
        """Intents with no outcome for their operation id, oldest first: changes stopped in the middle."""
        entries = self.entries()
        finished = {e.get("operation_id") for e in entries if e.get("phase") == "outcome"}
        return [
            e
            for e in entries
            if e.get("phase") == "intent" and e.get("operation_id") and e["operation_id"] not in finished
        ]
