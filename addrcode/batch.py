"""Run a job over a stream of input records: one output record per input record, in order.

A *job* (see `addrcode.jobs`) turns one query into an ordered dict of fields with at least
`status` and `reason`. This module owns the guarantees around it: a record that fails gets
`status=error` and never stops the batch, unusable input rows become rejects with their line
number, and a `Summary` counts what happened (rows in = ok + rejected + error, always).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from addrcode.io import InputRecord

Query = "str | dict[str, str]"


@dataclass
class Summary:
    """Counts of one run, printed on stderr at the end."""

    rows: int = 0
    ok: int = 0
    rejected: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.perf_counter)

    def add(self, record: dict) -> None:
        self.rows += 1
        status = record.get("status")
        if status == "ok":
            self.ok += 1
        elif status == "error":
            self.errors[_reason_kind(record.get("reason", ""))] += 1
        else:
            self.rejected[_reason_kind(record.get("reason", ""))] += 1

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    def text(self) -> str:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        parts = [f"{self.rows} rows", f"{self.ok} ok", f"{self.n_rejected} rejected", f"{self.n_errors} errors",
                 f"{self.rows / seconds:,.0f} rows/s"]
        lines = [", ".join(parts)]
        for title, counter in (("rejected", self.rejected), ("errors", self.errors)):
            for reason, n in counter.most_common(10):
                lines.append(f"  {title}: {n} × {reason}")
        return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    """Group reasons for the summary: drop line numbers and details after a colon."""
    if reason.startswith("line "):
        reason = reason.split(": ", 1)[-1]
    return reason.split(" (", 1)[0][:80] or "unknown"


def query_of(record: InputRecord, column: str | None, components: dict[str, str] | None) -> "Query":
    """What the job processes for one input record: a text, or a dict of address components."""
    if components:
        return {part: record.fields.get(col, "") for part, col in components.items()}
    if column is not None:
        return record.fields.get(column, "")
    return record.text


def run(records: Iterable[InputRecord], job: Callable[["Query"], dict], *,
        column: str | None = None, components: dict[str, str] | None = None) -> Iterator[tuple[InputRecord, dict]]:
    """Apply `job` to every record, in order, yielding (input record, result fields).

    Never raises for a bad record: unusable rows become `rejected`, exceptions inside the job
    become `error` with the exception's class as the reason (never its text, which might
    contain the address).
    """
    for record in records:
        if record.error:
            result = {"status": "rejected", "reason": record.error}
        else:
            try:
                result = job(query_of(record, column, components))
            except Exception as exc:  # a bad row must never stop the batch
                result = {"status": "error", "reason": f"internal error ({type(exc).__name__})"}
        if record.warnings:
            result.setdefault("warnings", [])
            result["warnings"] = list(result["warnings"]) + record.warnings
        yield record, result
