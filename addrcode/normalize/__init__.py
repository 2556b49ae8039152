"""Address normalization: free text or components -> `Address` (upper case, USPS Pub 28 forms).

```python
from addrcode.normalize import normalize, normalize_fields
normalize("637 college street middlebury vermont 05753").line()   # '637 COLLEGE ST, MIDDLEBURY, VT 05753'
normalize_fields(number="18 1/2", street="N MAIN ST", city="St. Albans", state="VT", postcode="05478")
```

A locale is an ordered tuple of small step functions over one parse state plus its tables
(addok-style): adding a country means registering another `Locale`, not adding `if` branches.
Only `us` exists today. Neither function ever raises on bad text: odd input gives what was found plus
`warnings` (short fixed phrases that never quote the input, so they are safe to log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from addrcode.records import Address

__all__ = ["normalize", "normalize_fields", "trace", "canonical_line", "Locale", "register_locale", "get_locale",
           "LOCALES"]

_FIELDS = ("number", "predir", "street", "suffix", "postdir", "unit_type", "unit_id", "po_box",
           "rural_route", "city", "state", "postcode", "zip4", "leftover")


@dataclass(frozen=True)
class Locale:
    """A country's rules: `steps` run in order over a parse state; `fields` parses components."""

    name: str
    load_tables: Callable[[], object]
    make_state: Callable[..., object]  # (text, tables, cities) -> state with .f, .warnings, .done
    steps: tuple[Callable[[object], None], ...]
    parse_fields: Callable[..., tuple[dict, list]]  # (tables, number, street, unit, city, state, postcode)
    format_line: Callable[[Address], str] | None = None  # canonical one-line form; None = Address.line()


LOCALES: dict[str, Locale] = {}
_TABLES: dict[str, object] = {}  # locale name -> its loaded tables (loaded on first use, then reused)


def register_locale(locale: Locale) -> None:
    """Make `locale` available to `normalize(..., locale=locale.name)`."""
    LOCALES[locale.name] = locale
    _TABLES.pop(locale.name, None)


def get_locale(name: str) -> Locale:
    """The registered locale `name` (case-insensitive); `UsageError` if unknown."""
    loc = LOCALES.get(name.lower()) if isinstance(name, str) else None
    if loc is None:
        from addrcode.errors import UsageError

        raise UsageError(f"unknown address locale {name!r}; available: {', '.join(sorted(LOCALES))}")
    return loc


def _us_locale() -> Locale:
    from addrcode.normalize import us
    from addrcode.normalize.tables import load_us_tables

    return Locale(
        name="us",
        load_tables=load_us_tables,
        make_state=us.Parse,
        steps=us.TEXT_STEPS,
        parse_fields=us.parse_fields,
    )


register_locale(_us_locale())


def _au_locale() -> Locale:
    from addrcode.normalize import au
    from addrcode.normalize.tables_au import load_au_tables

    return Locale(
        name="au",
        load_tables=load_au_tables,
        make_state=au.Parse,
        steps=au.TEXT_STEPS,
        parse_fields=au.parse_fields,
        format_line=au.line,
    )


register_locale(_au_locale())


def canonical_line(address: Address, locale: str = "us") -> str:
    """The locale's canonical one-line form of `address` (US: `Address.line()`; AU: `2/15 SMITH ST, ...`)."""
    fmt = get_locale(locale).format_line
    return fmt(address) if fmt is not None else address.line()


_EMPTY = dict.fromkeys(_FIELDS, "")
_new = object.__new__


def _address(f: dict, warnings: list[str]) -> Address:
    """Build the frozen `Address` from the steps' field dict.

    This runs once per row on the hot path: filling `__dict__` directly (what the frozen dataclass's
    own `__init__` does field by field through `object.__setattr__`) costs a fifth as much.
    """
    a = _new(Address)
    d = a.__dict__
    d.update(_EMPTY)
    d.update(f)
    d.pop("_street", None)
    # keep order, drop repeats: the same warning twice says nothing more
    d["warnings"] = tuple(dict.fromkeys(warnings)) if len(warnings) > 1 else tuple(warnings)
    return a


def normalize(text: str, locale: str = "us", *, cities: frozenset[str] | set[str] | None = None) -> Address:
    """Parse one free-text address line. Never raises on any text.

    Raises `UsageError` for an unknown locale and `DataError` when the locale's tables cannot be read.

    `cities`: optional set of canonical city names (as `normalize_fields(city=...).city` gives them,
    e.g. the towns of the geocoder's reference); when given, it settles where the street stops and
    the city begins in lines without commas (`12 Main St North Hero VT`).
    """
    loc = LOCALES.get(locale) or get_locale(locale)
    tables = _TABLES.get(loc.name)
    if tables is None:  # outside the try: a missing table file is a DataError (exit 3), not a bad row
        tables = _TABLES[loc.name] = loc.load_tables()
    try:
        state = loc.make_state(text if isinstance(text, str) else ("" if text is None else str(text)),
                               tables, cities)
        for step in loc.steps:
            step(state)
        return _address(state.f, state.warnings)
    except Exception as exc:  # the promise is "never raises": report the kind of failure, not the text
        return Address(warnings=(f"internal error ({type(exc).__name__}): input not parsed",))


def normalize_fields(
    *,
    number: str = "",
    street: str = "",
    unit: str = "",
    city: str = "",
    state: str = "",
    postcode: str = "",
    locale: str = "us",
) -> Address:
    """Parse component-wise input (CSV columns, reference rows). Never raises on any text.

    Raises `UsageError` for an unknown locale and `DataError` when the locale's tables cannot be read.

    `street` may be the full street line (`12 Main St Apt 3`) or just the street (`MAIN ST`) when
    `number` is given; `unit` may be `APT 3`, `#3` or a bare id (`3`, given designator `#`).
    """
    loc = LOCALES.get(locale) or get_locale(locale)
    tables = _TABLES.get(loc.name)
    if tables is None:
        tables = _TABLES[loc.name] = loc.load_tables()
    try:
        args = [x if isinstance(x, str) else ("" if x is None else str(x))
                for x in (number, street, unit, city, state, postcode)]
        f, warnings = loc.parse_fields(tables, *args)
        return _address(f, warnings)
    except Exception as exc:
        return Address(warnings=(f"internal error ({type(exc).__name__}): input not parsed",))


def trace(text: str, locale: str = "us", *, cities: frozenset[str] | set[str] | None = None) -> list[dict]:
    """What each step of the locale did to `text`, for `addrcode explain` (slow path; may raise).

    One dict per step: `step` (function name), `doc` (its one-line purpose), `tokens` (words still
    to place), `fields` (components found so far), `warnings`. It shows the user's own text back to
    them: do not log it.
    """
    loc = get_locale(locale)
    state = loc.make_state(text, loc.load_tables(), cities)
    out = []
    for step in loc.steps:
        step(state)
        out.append({
            "step": step.__name__,
            "doc": (step.__doc__ or "").strip().splitlines()[0] if step.__doc__ else "",
            "tokens": list(getattr(state, "tokens", [])),
            "fields": {k: v for k, v in state.f.items() if v and not k.startswith("_")},
            "warnings": list(state.warnings),
        })
    return out

