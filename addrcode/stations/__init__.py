"""Sorting stations: signed tables that map codes to zones (no addresses), and resolving codes offline.

- `table`: the table format (constants, schema, `TableInfo`, code <-> table key).
- `cells`: which grid cells get rows (the reference's points, plus interpolation along streets).
- `build`: `build_table` (every issuable code of every live epoch -> district, zone, hops), signed.
- `signing`: the Ed25519 signature over every byte of the file; verifying and opening a table.
- `diff`: what changed between two tables; `default`: the demo table of the embedded data.
- `resolver`: `Resolver` answers codes from a verified table (stdlib only, fast to start).
"""
