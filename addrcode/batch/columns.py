"""Which input columns hold the address: the ones the user named, checked, or guessed from the header.

One home for the rule, used by the CLI's batch runs, `label`'s encode-on-the-way and the Dask/Spark
engines: a one-line column (`--column`) or component columns (`--street`, `--city`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from addrcode.errors import UsageError

# The parts of an address that component columns can hold (`--number`, `--street`, ... `--postcode`).
COMPONENT_PARTS = ("number", "street", "unit", "city", "state", "postcode")
# Header names (lower case) taken for a one-line address column, in order of preference.
ONE_LINE_GUESSES = ("address", "addr", "full_address", "address_line", "input")
# Header names (lower case) taken for address components, when no one-line column is found.
COMPONENT_GUESSES = (
    ("street", ("street", "address1", "street_address")),
    ("city", ("city", "town")),
    ("state", ("state", "region")),
    ("postcode", ("postcode", "zip", "zipcode", "postal_code")),
)


def check_columns(columns: Iterable, wanted: Iterable, name: str | None = None) -> None:
    """Raise `UsageError` naming the `wanted` columns that are not among `columns` (and listing those)."""
    columns = list(columns)
    missing = [c for c in wanted if c not in columns]
    if missing:
        where = f"{name}: " if name else ""
        raise UsageError(f"{where}no column named {', '.join(map(str, missing))}; "
                         f"columns are: {', '.join(map(str, columns))}")


def choose_columns(header: list[str], column: str | None, components: Mapping[str, str],
                   name: str) -> tuple[str | None, dict[str, str]]:
    """(one-line column, component columns) for a file with `header`.

    The chosen columns must exist. With none chosen: a column named like `address`, else
    street/city/state/ZIP-like columns (a street column among them), else the only column.
    """
    check_columns(header, ([column] if column else []) + list(components.values()), name)
    if column or components:
        return column, dict(components)
    lower = {h.lower(): h for h in header}
    for guess in ONE_LINE_GUESSES:
        if guess in lower:
            return lower[guess], {}
    guessed = {part: lower[c] for part, candidates in COMPONENT_GUESSES for c in candidates if c in lower}
    if "street" in guessed:
        return None, guessed
    if len(header) == 1:
        return header[0], {}
    raise UsageError(f"{name}: say which column holds the address: --column NAME, or "
                     f"--street/--city/--state/--postcode; columns are: {', '.join(header)}")
