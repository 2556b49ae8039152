"""The counts of a batch run: rows in = ok + rejected + errors, rejects and errors grouped by reason.

Reasons are grouped by `addrcode.records.reason_kind` (as in the run report), shared by the CLI's runs
(`addrcode.batch.runner`)
and the Dask/Spark engines (`addrcode.batch.engines.EngineRun`), so their summaries read alike.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from addrcode.records import reason_kind


@dataclass
class Summary:
    """Counts of one run, printed on stderr at the end."""

    rows: int = 0
    ok: int = 0
    rejected: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.perf_counter)
    resumed_rows: int = 0  # rows done by an earlier, interrupted run (not timed here)
    # what reading the input noticed (NUL bytes, lines not UTF-8), by kind: count and the first lines
    warnings: dict[str, list] = field(default_factory=dict)

    def add(self, record: dict, input_warnings: tuple | list = (), line: int | None = None) -> None:
        """Count one output record; `input_warnings` are what reading its input `line` noticed."""
        self.count(record.get("status"), record.get("reason", ""))
        for warning in input_warnings:
            seen = self.warnings.setdefault(warning, [0, []])
            seen[0] += 1
            if line and len(seen[1]) < 5:
                seen[1].append(line)

    def add_pairs(self, pairs: list) -> None:
        """`add` each (input record, output record) pair of a chunk; the plain ok rows (most) counted at once."""
        plain_ok = 0
        for record, result in pairs:
            if not record.warnings and result.get("status") == "ok":
                plain_ok += 1
            else:
                self.add(result, record.warnings, record.line)
        self.count("ok", "", plain_ok)

    def count(self, status: str | None, reason: str | None, n: int = 1) -> None:
        """Count `n` records of one status and reason (reasons grouped by kind)."""
        self.rows += n
        if status == "ok":
            self.ok += n
        elif status == "error":
            self.errors[reason_kind(reason or "")] += n
        else:
            self.rejected[reason_kind(reason or "")] += n

    def merge(self, state: dict) -> None:
        """Add the counts of another summary's `to_state()` (e.g. one partition's, from a worker)."""
        self.rows += state["rows"]
        self.ok += state["ok"]
        self.rejected.update(state["rejected"])
        self.errors.update(state["errors"])
        for warning, (n, first) in state.get("warnings", {}).items():
            seen = self.warnings.setdefault(warning, [0, []])
            seen[0] += n
            seen[1] = (seen[1] + first)[:5]

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    def rows_per_second(self) -> float:
        return (self.rows - self.resumed_rows) / max(time.perf_counter() - self.started, 1e-9)

    def _how(self) -> str:
        return f" (resumed after {self.resumed_rows} rows)" if self.resumed_rows else ""

    def text(self) -> str:
        """The summary for stderr: counts, rate, then the ten most frequent reasons of each kind."""
        parts = [f"{self.rows} rows", f"{self.ok} ok", f"{self.n_rejected} rejected", f"{self.n_errors} errors",
                 f"{self.rows_per_second():,.0f} rows/s"]
        lines = [", ".join(parts) + self._how()]
        for title, counter in (("rejected", self.rejected), ("errors", self.errors)):
            for reason, n in counter.most_common(10):
                lines.append(f"  {title}: {n} × {reason}")
        for warning, (n, first) in sorted(self.warnings.items()):
            where = ", ".join(map(str, first)) + (" ..." if n > len(first) else "")
            lines.append(f"  input warning: {n} × {warning}" + (f" (line {where})" if first else ""))
        return "\n".join(lines)

    def to_state(self) -> dict:
        return {"rows": self.rows, "ok": self.ok, "rejected": dict(self.rejected), "errors": dict(self.errors),
                "warnings": self.warnings}

    @classmethod
    def from_state(cls, state: dict) -> Summary:
        return cls(rows=state["rows"], ok=state["ok"], rejected=Counter(state["rejected"]),
                   errors=Counter(state["errors"]), resumed_rows=state["rows"], warnings=state.get("warnings", {}))
