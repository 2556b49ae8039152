"""Comparing two station table versions: which codes were added, removed, re-routed or revoked."""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

from addrcode.errors import DataError
from addrcode.stations.signing import check_and_info, connect, verified_bytes
from addrcode.stations.table import ALPHABET, FRESH_COPY, TableInfo, code_of_body


@dataclass(frozen=True)
class Diff:
    """What changes between two table versions (codes as printed text; no addresses exist here)."""

    old: TableInfo
    new: TableInfo
    added: int
    removed: int
    rerouted: int
    revoked: int
    unchanged: int
    samples: dict = field(default_factory=dict)  # kind -> [{"code", "old", "new"}]
    reroutes: tuple = ()  # ((old zone, new zone, count), ...) most codes first
    epochs_changed: tuple = ()  # ((epoch id, old status or "", new status or ""), ...)

    @property
    def changed(self) -> bool:
        """True if any code would resolve differently."""
        return bool(self.added or self.removed or self.rerouted or self.revoked)

    def to_dict(self) -> dict:
        """A JSON-friendly dict."""
        return {
            "old": self.old.to_dict(), "new": self.new.to_dict(),
            "counts": {"added": self.added, "removed": self.removed, "rerouted": self.rerouted,
                       "revoked": self.revoked, "unchanged": self.unchanged},
            "reroutes": [{"old_zone": a, "new_zone": b, "codes": n} for a, b, n in self.reroutes],
            "epochs_changed": [{"id": i, "old": a, "new": b} for i, a, b in self.epochs_changed],
            "samples": self.samples,
        }

    def text(self) -> str:
        """A short human summary for a station manager."""
        lines = [
            f"old: serial {self.old.serial}, {self.old.rows} codes, station {self.old.station}",
            f"new: serial {self.new.serial}, {self.new.rows} codes, station {self.new.station}",
            f"added {self.added}, removed {self.removed}, re-routed {self.rerouted}, revoked {self.revoked}, "
            f"unchanged {self.unchanged}",
        ]
        if self.new.serial <= self.old.serial:
            lines.append("WARNING: the new table's serial is not newer; `table verify --newer-than` will refuse it")
        for eid, a, b in self.epochs_changed:
            lines.append(f"epoch {eid}: {a or '-'} -> {b or '-'}")
        for a, b, n in self.reroutes[:20]:
            lines.append(f"  {n} codes re-routed {a} -> {b}")
        return "\n".join(lines)


def diff_tables(old, new, public_key, *, sample: int = 10) -> Diff:
    """Compare two verified tables: which codes were added, removed, re-routed or revoked.

    Re-routed: same code, another destination (zone, sort center, route or extra fields).
    Revoked: a code of the old table whose epoch the new table lists as revoked. `sample` codes of
    each kind are listed (codes only: tables hold no addresses).
    """
    old_bytes = verified_bytes(old, public_key)
    new_bytes = verified_bytes(new, public_key)
    db = sqlite3.connect(":memory:")
    try:
        if sys.version_info >= (3, 11):
            db.deserialize(old_bytes)
            db.execute("ATTACH DATABASE ':memory:' AS new")
            db.deserialize(new_bytes, name="new")
        else:
            db.close()
            db = sqlite3.connect(Path(old).resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
            db.execute("ATTACH DATABASE ? AS new", (Path(new).resolve().as_uri() + "?mode=ro&immutable=1",))
        old_info = check_and_info(db, old, len(old_bytes))
        new_db = connect(new, new_bytes)
        try:
            new_info = check_and_info(new_db, new, len(new_bytes))
        finally:
            new_db.close()

        def dests(schema):
            rows = db.execute(f"SELECT idx, zone, sort_center, route, fields FROM {schema}.zones")
            return {idx: {"zone": z, "sort_center": sc, "route": r, **json.loads(f)} for idx, z, sc, r, f in rows}

        old_dest, new_dest = dests("main"), dests("new")
        old_ep, new_ep = dict(old_info.epochs), dict(new_info.epochs)
        revoked_now = {ALPHABET.index(e) for e, s in new_ep.items() if s == "revoked" and old_ep.get(e) != "revoked"}
        epochs_changed = tuple((e, old_ep.get(e, ""), new_ep.get(e, ""))
                               for e in sorted(set(old_ep) | set(new_ep), key=ALPHABET.index)
                               if old_ep.get(e) != new_ep.get(e))
        samples = {"added": [], "removed": [], "rerouted": [], "revoked": []}
        counts = dict.fromkeys(samples, 0)
        same_dest = {}
        reroutes: dict = {}
        unchanged = 0
        q = ("SELECT o.body, o.zone, n.zone FROM main.codes o JOIN new.codes n ON n.body = o.body")
        for body, oz, nz in db.execute(q):
            key = (oz, nz)
            same = same_dest.get(key)
            if same is None:
                same = same_dest[key] = old_dest[oz] == new_dest[nz]
            if same:
                unchanged += 1
                continue
            counts["rerouted"] += 1
            pair = (old_dest[oz]["zone"], new_dest[nz]["zone"])
            reroutes[pair] = reroutes.get(pair, 0) + 1
            if len(samples["rerouted"]) < sample:
                samples["rerouted"].append({"code": code_of_body(body), "old": old_dest[oz], "new": new_dest[nz]})
        for body, oz in db.execute("SELECT o.body, o.zone FROM main.codes o LEFT JOIN new.codes n "
                                   "ON n.body = o.body WHERE n.body IS NULL"):
            kind = "revoked" if (body >> 20) & 31 in revoked_now else "removed"
            counts[kind] += 1
            if len(samples[kind]) < sample:
                samples[kind].append({"code": code_of_body(body), "old": old_dest[oz], "new": None})
        for body, nz in db.execute("SELECT n.body, n.zone FROM new.codes n LEFT JOIN main.codes o "
                                   "ON o.body = n.body WHERE o.body IS NULL"):
            counts["added"] += 1
            if len(samples["added"]) < sample:
                samples["added"].append({"code": code_of_body(body), "old": None, "new": new_dest[nz]})
    except sqlite3.DatabaseError:
        raise DataError(f"{old} / {new}: station tables unreadable although signed; {FRESH_COPY}") from None
    finally:
        db.close()
    ranked = tuple(sorted(((a, b, n) for (a, b), n in reroutes.items()), key=lambda t: (-t[2], t[0], t[1])))
    return Diff(old=old_info, new=new_info, added=counts["added"], removed=counts["removed"],
                rerouted=counts["rerouted"], revoked=counts["revoked"], unchanged=unchanged,
                samples=samples, reroutes=ranked, epochs_changed=epochs_changed)
