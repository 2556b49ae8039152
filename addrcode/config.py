"""Layered configuration: defaults -> TOML file -> ADDRCODE_* environment -> command-line flags.

The TOML file is `--config PATH`, else `$ADDRCODE_CONFIG`, else none (the embedded demo data is
used, and said so on stderr by the commands). The command line also finds one (`find_config`):
`./addrcode.toml`, then the user's `$XDG_CONFIG_HOME/addrcode/addrcode.toml` (`~/.config/...`).
Relative paths in a TOML file are relative to that file. Nothing is printed while loading.

```toml
# addrcode.toml
reference = "vt.sqlite"       # built with `addrcode reference build`
zones = "zones.geojson"      # built with `addrcode zones build` (demo zones only with the demo reference)
keyring = "keys/addrcode.keyring"
table = "station.sqlite"      # at a sorting station: the signed table ...
public_key = "addrcode.keyring.pub"   # ... and the public key it is checked with
next_public_key = "new.pub"   # a second trusted key, only during a signing-key change
public_key_fingerprint = "0123456789abcdef"   # pin the carrier key(s): a list during a change
station = "SC-ESSEX"          # this station's id: another station's extract is refused
station_state = "state.json"  # newest table serial used here (default: the user state folder)
delivery_keys = "delivery-keys/"   # shipper: each delivery region's .pub (encode --seal)
delivery_key = "essex.delivery.key"   # delivering station: its secret delivery key (unseal)
audit_log = "unseal-audit.log"  # delivering station: one line per unseal (default: the user state folder)
locale = "us"
crs = "EPSG:5070"
cell_size_m = 100
min_precision = "interpolated"
min_score = 0.5
file_mode = "0600"            # mode of the files addrcode writes (outputs, reports, tables)
cache_size = 20000            # the geocoder's in-memory caches (80000: a national batch ~1.3x faster, ~+500 MB)
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from addrcode.errors import DataError, UsageError

PATH_KEYS = ("reference", "zones", "keyring", "table", "public_key", "next_public_key", "station_state", "cache_dir",
             "delivery_keys", "delivery_key", "audit_log")

# What a locale changes when the user has not set it: its own grid CRS. Its embedded demo reference and
# zones are chosen in `addrcode.batch.jobs` (reference_path, zones_path), only when no reference is configured.
LOCALE_PRESETS = {
    "us": {},
    "au": {"crs": "EPSG:3577"},  # GDA94 / Australian Albers, metres
}


@dataclass(frozen=True)
class Config:
    """Where the data files are and how the grid is laid out. `None` paths mean the embedded default."""

    reference: Path | None = None
    zones: Path | None = None
    keyring: Path | None = None
    table: Path | None = None
    public_key: Path | None = None  # the keyring's .pub file: what a station verifies tables with
    next_public_key: Path | None = None  # also trusted, during a signing-key change (`key rotate-signing`)
    public_key_fingerprint: tuple[str, ...] = ()  # pinned carrier key fingerprints; (): not pinned
    station: str | None = None  # this station's id (sort center): other stations' extracts are refused
    station_state: Path | None = None  # rollback state file; None: the user state folder's
    delivery_keys: Path | None = None  # the shipper's folder of delivery region public keys (encode --seal)
    delivery_key: Path | None = None  # the delivering station's secret delivery key (unseal)
    audit_log: Path | None = None  # the station's unseal audit log; None: the user state folder's
    operator: str | None = None  # who unseals at this terminal (audit log); None: the login name
    cache_dir: Path | None = None
    locale: str = "us"
    crs: str = "EPSG:5070"
    cell_size_m: float = 100.0
    min_precision: str = "interpolated"
    min_score: float = 0.5
    file_mode: int = 0o600  # outputs are address-to-code codebooks: private unless asked otherwise
    cache_size: int = 20_000  # the geocoder's caches (`geocoding.store.DEFAULT_CACHE_SIZE`): memory for speed

    def cache(self) -> Path:
        """The directory for built defaults (reference, station table); created on demand."""
        if self.cache_dir is not None:
            return self.cache_dir
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("addrcode"))


# Set to 1 (`addrcode -v` does) to see the traceback behind a record's "internal error (...)" reason on
# stderr; it may hold the record's data, so it is off by default. Not a `Config` key: it is read where the
# error is caught, in worker processes too (they inherit the environment).
DEBUG_ENV = "ADDRCODE_DEBUG"


def debug_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether `$ADDRCODE_DEBUG` asks for tracebacks (set and not empty, `0`, `false` or `no`)."""
    value = (os.environ if env is None else env).get(DEBUG_ENV, "")
    return value.strip().lower() not in ("", "0", "false", "no")


def keyring_to_change(config: Config) -> Path:
    """The keyring that `addrcode key list|rotate|revoke` work on: the configured one, never the packaged demo."""
    if config.keyring is None:
        raise UsageError("say which keyring: --keyring FILE (or `keyring` in the config, or $ADDRCODE_KEYRING); "
                         "the packaged demo keyring cannot be changed")
    return config.keyring


def embedded(name: str) -> Path:
    """Path of a file of the embedded default data (`data/` in the source tree, `addrcode.data` installed)."""
    from addrcode.packaged import data_path

    return data_path(name)


def _coerce(key: str, value, base: Path | None):
    if value is None or value == "":
        return None if key in PATH_KEYS else value
    if key in PATH_KEYS:
        path = Path(os.path.expanduser(str(value)))
        return path if path.is_absolute() or base is None else base / path
    if key in ("cell_size_m", "min_score"):
        try:
            return float(value)
        except ValueError:
            raise UsageError(f"{key} must be a number, got {value!r}") from None
    if key == "cache_size":
        return _cache_size(value)
    if key == "public_key_fingerprint":
        return parse_pins(value)
    if key == "file_mode":
        from addrcode.files import parse_file_mode

        return parse_file_mode(value)
    return str(value)


MIN_CACHE_SIZE = 1_000


def _cache_size(value) -> int:
    """`cache_size` as a whole number of at least `MIN_CACHE_SIZE` (a TOML integer, or its text)."""
    try:
        size = int(str(value).replace("_", "")) if not isinstance(value, bool) else None
    except ValueError:
        size = None
    if size is None or size < MIN_CACHE_SIZE:
        raise UsageError(f"cache_size must be a whole number of at least {MIN_CACHE_SIZE:,} (the default is "
                         f"{Config.cache_size:,}; 80000 holds 4x more of a national reference), got {value!r}")
    return size


def parse_pins(value) -> tuple[str, ...]:
    """Pinned key fingerprints: one string, a comma-separated string, or a list (TOML)."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    pins = tuple(str(p).strip().lower() for p in items if str(p).strip())
    for p in pins:
        if len(p) != 16 or any(c not in "0123456789abcdef" for c in p):
            raise UsageError(f"public_key_fingerprint: {p!r} is not a key fingerprint (16 hex digits, as "
                             "`addrcode key list` and `table verify` print them)")
    return pins


CONFIG_NAME = "addrcode.toml"


def find_config(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The configuration file the command line uses when `--config` is not given: `$ADDRCODE_CONFIG`,
    else `./addrcode.toml`, else `$XDG_CONFIG_HOME/addrcode/addrcode.toml` (default `~/.config`), else None.

    A found file (not one named by `--config` or the environment) must be yours and writable by you
    alone: in a shared folder another user could otherwise plant one that points addrcode at their
    keyring or table. Such a file is refused (`DataError`), never silently skipped.
    """
    env = os.environ if env is None else env
    if env.get("ADDRCODE_CONFIG"):
        return Path(env["ADDRCODE_CONFIG"])
    home = env.get("XDG_CONFIG_HOME") or (str(Path(env["HOME"]) / ".config") if env.get("HOME") else "")
    try:
        here = Path(cwd or Path.cwd()) / CONFIG_NAME
    except OSError:  # the working folder was removed under us
        here = None
    for candidate in (here, Path(home) / "addrcode" / CONFIG_NAME if home else None):
        try:
            found = candidate is not None and candidate.is_file()
        except OSError:  # a folder we may not look into (another user's HOME): nothing of ours is there
            found = False
        if found:
            _check_owned(candidate)
            return candidate
    return None


def _check_owned(path: Path) -> None:
    st = path.stat()
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        raise DataError(f"{path}: configuration file found here, but it is not yours alone (owner uid {st.st_uid}, "
                        f"mode {st.st_mode & 0o777:04o}); `chmod go-w` it if you made it, or pass --config")


def load_config(path: str | os.PathLike | None = None, *, env: Mapping[str, str] | None = None,
                **overrides) -> Config:
    """Build the configuration from the layers; `overrides` are flag values (None = not given)."""
    values, _ = _layered(path, env, overrides)
    return replace(Config(), **values)


@dataclass(frozen=True)
class Setting:
    """One configuration key as `addrcode config` shows it: its value and the layer it came from."""

    key: str
    value: object
    origin: str  # "default", "locale preset", "file", "environment ($ADDRCODE_...)" or "flag"


def describe_config(path: str | os.PathLike | None = None, *, env: Mapping[str, str] | None = None,
                    **overrides) -> list[Setting]:
    """Every configuration key with the value in force and where it came from (what `addrcode config` prints).
    Path keys left unset are None: the command that needs them then uses the embedded demo data."""
    values, origins = _layered(path, env, overrides)
    config = replace(Config(), **values)
    return [Setting(f.name, getattr(config, f.name), origins.get(f.name, "default")) for f in fields(Config)]


def _layered(path, env, overrides) -> tuple[dict, dict]:
    """The keys set by the file, environment, flags and locale preset, and which layer set each."""
    env = os.environ if env is None else env
    known = {f.name for f in fields(Config)}
    values: dict = {}
    origins: dict = {}
    path = path or env.get("ADDRCODE_CONFIG") or None
    if path:
        values.update(_read_toml(Path(path), known))
        origins.update(dict.fromkeys(values, "file"))
    for key in known:
        env_value = env.get("ADDRCODE_" + key.upper())
        if env_value:
            values[key] = _coerce(key, env_value, None)
            origins[key] = f"environment ($ADDRCODE_{key.upper()})"
    for key, value in overrides.items():
        if key not in known:
            raise TypeError(f"unknown configuration key {key}")
        if value is not None:
            values[key] = _coerce(key, value, None)
            origins[key] = "flag"
    locale = str(values.get("locale", Config.locale)).lower()
    if locale not in LOCALE_PRESETS:
        raise UsageError(f"unknown locale {locale!r}; available: {', '.join(sorted(LOCALE_PRESETS))}")
    values["locale"] = locale
    for key, value in LOCALE_PRESETS[locale].items():  # only where no layer set the key
        if key not in values:
            values[key] = embedded(value) if key in PATH_KEYS else value
            origins[key] = f"locale preset ({locale})"
    return values, origins


def _read_toml(path: Path, known: set[str]) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        if path.exists() and (not path.is_file() or path.stat().st_size > 1_000_000):
            raise DataError(f"{path}: not a configuration file (expected a small TOML file)")
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path}: configuration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{path}: not a valid TOML configuration file ({exc})") from None
    unknown = sorted(set(data) - known)
    if unknown:
        raise DataError(f"{path}: unknown configuration keys: {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(known))})")
    return {k: _coerce(k, v, path.parent) for k, v in data.items()}
