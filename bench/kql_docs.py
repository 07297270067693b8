"""The Kusto documentation's own examples, run through the local Log Analytics query API.

    python bench/kql_docs.py --docs PATH [--list differ|unsupported|all] [--only TEXT]

PATH is a checkout of MicrosoftDocs/dataexplorer-docs, or its git directory (read with `git show`,
no work tree needed). Every `kusto` block of `data-explorer/kusto/query/*.md` followed by a
published **Output** table is an example. Those that read a sample database (a table the query
does not build itself), or ask for something that changes between runs (`now()`, `rand()`...),
are skipped: they cannot agree with a published table. The rest go, one by one, as HTTP POSTs to
`/v1/workspaces/{id}/query` on the local Azure's Log Analytics routes, and each answer is compared
with the published table: **match**, **differ** (an answer that is not the published one) or
**unsupported** (refused with an error). Figures are printed in scope and overall; out of scope
are Azure Data Explorer-only constructs (plugins that call out of the cluster, graph operators, external
tables, stored query results, `current_principal`, cursors) and, counted apart, the `geo_*` functions. A
refused example that also reads a sample table is counted with the sample-database ones (it could not
match either way; `--keep-refused-sample-readers` counts it as unsupported). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERY_DIR = "data-explorer/kusto/query"
NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC)

_BLOCK = re.compile(r"```kusto[^\n]*\n(.*?)```", re.DOTALL)
_OUTPUT_HEADING = re.compile(r"^\s*(?:\*\*Output\*\*|#+\s*Output|Output:?)\s*$", re.MULTILINE | re.IGNORECASE)
_NONDETERMINISTIC = re.compile(
    r"\b(?:now|ago|rand|new_guid|current_cluster_endpoint|current_database|extent_id|extent_tags|"
    r"ingestion_time|sample|sample-distinct)\b\s*\(|\|\s*sample\b",
    re.IGNORECASE,
)
_OUT_OF_SCOPE = re.compile(
    r"\b(?:current_principal\w*|cursor_\w+|graph-match|graph-shortest-paths|graph-to-table|"
    r"graph-mark-components|make-graph|external_table|inline_external_table|stored_query_result|materialized_view|cluster|database|"
    r"estimate_data_size|column_ifexists)\s*\("
    r"|\bevaluate\s+(?:python|r|sql_request|http_request|http_request_post|cosmosdb_sql_request|"
    r"mysql_request|postgresql_request|azure_digital_twins_query_request|ai_\w+|ipv4_lookup|"
    r"ipv6_lookup|schema_merge|infer_storage_schema\w*)\b"
    r"|\b(?:make-graph|graph-match|graph-shortest-paths|graph-to-table|graph-mark-components)\b",
    re.IGNORECASE,
)
_GEO = re.compile(r"\bgeo_\w+\s*\(", re.IGNORECASE)
_SAMPLE_TABLE = re.compile(r"Failed to resolve table expression named '([^']+)'|'__la_source\.([^']+)': unknown table")


@dataclass(frozen=True)
class Example:
    """One documented query and the table the docs publish as its output."""

    source: str
    query: str
    header: list[str]
    rows: list[list[str]]

    @property
    def scope(self) -> str:
        if _GEO.search(self.query):
            return "geo"
        if _OUT_OF_SCOPE.search(self.query):
            return "out"
        return "in"


# --------------------------------------------------------------------------------------------------
# Reading the docs
# --------------------------------------------------------------------------------------------------


def _doc_files(docs: Path) -> list[tuple[str, str]]:
    """(name, markdown) of every query reference page, from a checkout or a git directory."""
    folder = docs / QUERY_DIR
    if folder.is_dir():
        return [(path.name, path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.md"))]
    names = subprocess.run(
        ["git", f"--git-dir={docs}", "ls-tree", "--name-only", f"HEAD:{QUERY_DIR}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    names = sorted(name for name in names if name.endswith(".md"))
    batch = "".join(f"HEAD:{QUERY_DIR}/{name}\n" for name in names)
    raw = subprocess.run(
        ["git", f"--git-dir={docs}", "cat-file", "--batch"], input=batch.encode(), check=True, capture_output=True
    ).stdout
    files: list[tuple[str, str]] = []
    position = 0
    for name in names:
        header_end = raw.index(b"\n", position)
        size = int(raw[position:header_end].split()[2])
        body = raw[header_end + 1 : header_end + 1 + size]
        files.append((name, body.decode("utf-8", errors="replace")))
        position = header_end + 1 + size + 1
    return files


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def _table_after(text: str) -> tuple[list[str], list[list[str]]] | None:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("|")), None)
    if start is None or start + 1 >= len(lines) or not re.match(r"^\s*\|?\s*:?-{2,}", lines[start + 1]):
        return None
    if any(line.strip() for line in lines[:start] if not line.strip().startswith(("<", ">", ":::"))):
        prose = [line for line in lines[:start] if line.strip()]
        if len(prose) > 2:
            return None
    header = _cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip().startswith("|"):
            break
        rows.append(_cells(line))
    return header, rows


def extract(files: list[tuple[str, str]]) -> list[Example]:
    """Examples: a `kusto` block followed, before the next block, by an Output heading and a table."""
    examples: list[Example] = []
    for name, text in files:
        blocks = list(_BLOCK.finditer(text))
        for index, block in enumerate(blocks):
            following = text[block.end() : blocks[index + 1].start() if index + 1 < len(blocks) else len(text)]
            heading = _OUTPUT_HEADING.search(following)
            if heading is None:
                continue
            table = _table_after(following[heading.end() :])
            if table is None:
                continue
            examples.append(Example(name, block.group(1).strip(), *table))
    return examples


# --------------------------------------------------------------------------------------------------
# Comparing an answer with the published table
# --------------------------------------------------------------------------------------------------


_NUMBER = re.compile(r"-?[0-9][0-9,]*(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _as_number(text: str) -> float | None:
    try:
        return float(text.replace(",", "")) if _NUMBER.fullmatch(text) else None
    except ValueError:
        return None


def _as_instant(text: str) -> dt.datetime | None:
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}:\d{2}(?::\d{2})?)(\.\d+)?)?\s*Z?", text)
    if match is None:
        return None
    clock = match.group(2) or "00:00:00"
    if clock.count(":") == 1:
        clock += ":00"
    fraction = (match.group(3) or ".0")[1:7].ljust(6, "0")
    try:
        return dt.datetime.fromisoformat(f"{match.group(1)}T{clock.zfill(8)}.{fraction}")
    except ValueError:
        return None


def _json_value(text: str) -> Any:
    if not text or text[0] not in "[{":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _same_json(left: Any, right: Any) -> bool:
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same_json(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same_json(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, (int, float)) and isinstance(right, (int, float)) and not isinstance(left, bool):
        return _close(float(left), float(right))
    return bool(left == right)


def _close(left: float, right: float) -> bool:
    if math.isnan(left) or math.isnan(right):
        return math.isnan(left) and math.isnan(right)
    if left == right:
        return True
    # The docs round what they print; agree to the digits they show.
    return abs(left - right) <= max(1e-9, 1e-6 * max(abs(left), abs(right)))


_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_SYMBOLS = {"∞": "Infinity", "-∞": "-Infinity"}


def _cell_matches(published: str, answered: Any) -> bool:
    """The docs print a table for people: line breaks as <br>, infinity as ∞, a bool as 0 or 1."""
    text = published.strip().strip("`")
    text = _SYMBOLS.get(text, text)
    if _BREAK.search(text):
        return _cell_matches(_BREAK.sub("", text), answered) or _cell_matches(_BREAK.sub("\n", text), answered)
    if answered is None:
        return text.lower() in ("", "null")
    if isinstance(answered, bool):
        return text.lower() in (str(answered).lower(), str(int(answered)))
    if isinstance(answered, (int, float)):
        number = _as_number(text)
        if number is None:
            return text.lower() in ("nan", "infinity", "-infinity") and str(answered).lower() == text.lower()
        digits = len(text.split(".")[1]) if "." in text else 0
        return _close(number, float(answered)) or (digits > 0 and abs(number - float(answered)) <= 0.5 * 10**-digits)
    answer = str(answered)
    if answer == text or answer.strip() == text:
        return True
    published_json, answered_json = _json_value(text), _json_value(answer)
    if published_json is not None and answered_json is not None:
        return _same_json(published_json, answered_json)
    left, right = _as_instant(text), _as_instant(answer)
    if left is not None and right is not None:
        return left == right
    number, other = _as_number(text), _as_number(answer)
    if number is not None and other is not None:
        return _close(number, other)
    return text.lower() in ("true", "false") and answer.lower() == text.lower()


def _row_matches(published: list[str], answered: list[Any]) -> bool:
    return all(_cell_matches(p, a) for p, a in zip(published, answered, strict=True))


def _rows_match(published: list[list[str]], answered: list[list[Any]], ordered: bool) -> bool:
    if len(published) != len(answered):
        return False
    if any(len(row) != len(answer) for row, answer in zip(published, answered, strict=True)):
        return False
    if ordered:
        return all(
            all(_cell_matches(p, a) for p, a in zip(row, answer, strict=True))
            for row, answer in zip(published, answered, strict=True)
        )
    remaining = list(answered)
    for row in published:
        found = next((i for i, answer in enumerate(remaining) if _row_matches(row, answer)), None)
        if found is None:
            return False
        remaining.pop(found)
    return True


_MAKES_SETS = re.compile(r"\b(make_set\w*|set_union|set_intersect|set_difference)\s*\(")


def _sorted_set(cell: Any) -> Any:
    parsed = _json_value(_BREAK.sub("", cell)) if isinstance(cell, str) else None
    if isinstance(parsed, list):
        return json.dumps(sorted(parsed, key=lambda item: json.dumps(item, sort_keys=True)))
    return cell


def compare(example: Example, answer: dict[str, Any]) -> str | None:
    """None when the answer is the published table, else a sentence saying how it differs."""
    table = answer["tables"][0]
    names = [column["name"] for column in table["columns"]]
    header = [cell.strip("`* ") for cell in example.header]
    if names != header:
        return f"columns {names} where the docs show {header}"
    ordered = re.search(r"\b(order|sort|top|serialize|row_number|prev|next|scan)\b", example.query) is not None
    if _rows_match(example.rows, table["rows"], ordered):
        return None
    # A set has no order: compare the arrays a set function built as sorted.
    if _MAKES_SETS.search(example.query) and _rows_match(
        [[_sorted_set(cell) for cell in row] for row in example.rows],
        [[_sorted_set(cell) for cell in row] for row in table["rows"]],
        ordered,
    ):
        return None
    shown = json.dumps(table["rows"][:4], ensure_ascii=False)[:400]
    return f"rows {shown} where the docs show {json.dumps(example.rows[:4], ensure_ascii=False)[:400]}"


# --------------------------------------------------------------------------------------------------
# Running through the query API
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """What became of one example."""

    example: Example
    outcome: str  # match, differ, unsupported, sample-database
    detail: str = ""


async def run_all(examples: list[Example]) -> list[Result]:
    """POST every example to the Log Analytics routes of a local Azure with no telemetry tables."""
    from aiohttp import ClientSession, web

    from console.emulator import estate
    from console.emulator.kql_engine import KqlEngine
    from console.emulator.logs_api import setup_logs_routes

    engine = KqlEngine()
    app = web.Application()
    setup_logs_routes(app, engine, now=lambda: NOW)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/v1/workspaces/{estate.WORKSPACE_CUSTOMER_ID}/query"
    results: list[Result] = []
    try:
        async with ClientSession() as session:
            for example in examples:
                async with session.post(url, json={"query": example.query}, headers={"Prefer": "wait=20"}) as response:
                    body = await response.json(content_type=None)
                if response.status != 200:
                    error = body.get("error", {})
                    message = str(error.get("innererror", error).get("message", body))
                    sample = _SAMPLE_TABLE.search(message)
                    outcome = "sample-database" if sample else "unsupported"
                    results.append(Result(example, outcome, message[:300]))
                    continue
                difference = compare(example, body)
                results.append(Result(example, "match" if difference is None else "differ", difference or ""))
    finally:
        await runner.cleanup()
        engine.close()
    return results


def _reading_sample_tables(results: list[Result]) -> list[Result]:
    """Refused examples that also read a sample table (one another example was refused for) and do not build
    it themselves: they could not match whatever the refusal, so they count with the sample-database ones."""
    tables: set[str] = set()
    for result in results:
        found = _SAMPLE_TABLE.search(result.detail) if result.outcome == "sample-database" else None
        if found is not None:
            tables.update(name for name in found.groups() if name)
    mentions = re.compile(r"\b(" + "|".join(sorted(map(re.escape, tables))) + r")\b") if tables else None
    reclassified = []
    for result in results:
        query = result.example.query
        found = mentions.findall(query) if mentions is not None and result.outcome == "unsupported" else []
        if any(not re.search(rf"\blet\s+{re.escape(name)}\s*=", query) for name in found):
            result = Result(result.example, "sample-database", result.detail)
        reclassified.append(result)
    return reclassified


def _figures(label: str, results: list[Result]) -> str:
    counts = Counter(result.outcome for result in results)
    total = counts["match"] + counts["differ"] + counts["unsupported"]
    share = 100.0 * counts["match"] / total if total else 0.0
    return (
        f"{label:<28} {total:>4} examples: {counts['match']:>4} match ({share:.0f}%), "
        f"{counts['differ']:>3} differ, {counts['unsupported']:>4} unsupported"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, required=True, help="dataexplorer-docs checkout or git directory")
    parser.add_argument("--list", choices=("differ", "unsupported", "all", "none"), default="differ")
    parser.add_argument("--only", default="", help="run only examples whose query contains this text")
    parser.add_argument(
        "--keep-refused-sample-readers",
        action="store_true",
        help="count a refused example as unsupported even when it reads a sample table (the first figures' way)",
    )
    parser.add_argument("--outcomes", type=Path, help="also write each example's outcome here (JSON lines)")
    arguments = parser.parse_args()
    examples = [example for example in extract(_doc_files(arguments.docs)) if arguments.only in example.query]
    deterministic = [example for example in examples if not _NONDETERMINISTIC.search(example.query)]
    results = asyncio.run(run_all(deterministic))
    if not arguments.keep_refused_sample_readers:
        results = _reading_sample_tables(results)
    runnable = [result for result in results if result.outcome != "sample-database"]
    print(
        f"{len(examples)} examples with a published output; {len(examples) - len(deterministic)} change between "
        f"runs and {len(results) - len(runnable)} read a sample database: {len(runnable)} self-contained."
    )
    print(_figures("in scope", [r for r in runnable if r.example.scope == "in"]))
    print(_figures("geo_* functions", [r for r in runnable if r.example.scope == "geo"]))
    print(_figures("Data Explorer only", [r for r in runnable if r.example.scope == "out"]))
    print(_figures("overall", runnable))
    if arguments.outcomes is not None:
        arguments.outcomes.write_text(
            "".join(
                json.dumps(
                    {
                        "source": r.example.source,
                        "query": r.example.query,
                        "scope": r.example.scope,
                        "outcome": r.outcome,
                    }
                )
                + "\n"
                for r in results
            )
        )
    wanted = {"differ": ("differ",), "unsupported": ("unsupported",), "all": ("differ", "unsupported"), "none": ()}
    for result in runnable:
        if result.outcome in wanted[arguments.list] and result.example.scope != "geo":
            query = " ".join(result.example.query.split())[:160]
            print(f"\n[{result.outcome}] {result.example.source}: {query}\n    {result.detail}")


if __name__ == "__main__":
    main()
