"""Shared fixtures.

- `small_reference`: a reference built from `tests/data/oa_small.csv` (two Vermont towns, ~480 rows,
  plus four rows the builder must reject); needs nothing outside the project.
- `vt_reference`: the embedded Vermont reference (248k points, ~10 s to build), built once per
  session into the session's cache directory.
- `VT_ZONES`: the embedded Vermont zones, for commands given a Vermont reference of the tests' own.
- `addrcode_cache` (autouse): every test, and every CLI subprocess a test starts, uses one fresh cache
  directory per session (`ADDRCODE_CACHE_DIR`), never the user's: the default reference and the demo
  station table are built at most once per test session.
"""

import os
import signal
from pathlib import Path

import pytest

# A suite started in the background by a shell without job control (`pytest &` in a script, a CI step
# run that way) inherits SIGINT ignored, and so does every CLI it starts: Python then installs no
# KeyboardInterrupt handler, and the Ctrl-C tests fail (exit 0, not 130). Run them as a terminal would.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
ROOT = TESTS.parent
SHARED = TESTS.parents[1] / "shared"  # ../shared next to the repo: the real data sets
# The embedded Vermont zones: tests that pass a Vermont reference of their own (small_reference...) pass
# these too, since a configured reference never falls back to the embedded zones.
VT_ZONES = str(ROOT / "data" / "vt-zones.geojson")


def pytest_collection_modifyitems(config, items):
    """Tests marked `slow` (long data-backed checks) run only with ADDRCODE_SLOW=1."""
    if os.environ.get("ADDRCODE_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: set ADDRCODE_SLOW=1")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def small_oa() -> Path:
    return DATA / "oa_small.csv"


@pytest.fixture(scope="session")
def small_reference(tmp_path_factory, small_oa) -> Path:
    from addrcode.geocoding.build import build_reference

    out = tmp_path_factory.mktemp("ref") / "small.sqlite"
    build_reference([small_oa], out)
    return out


def relabelled_state(src: Path, dst: Path, *, state: str, zip_prefix: str, dlon: float, dlat: float = 0.0) -> Path:
    """A synthetic state: the points of OpenAddresses file `src` moved by (dlon, dlat), with REGION
    `state` and the ZIP's first three digits replaced by `zip_prefix`, same town and street names
    (as real countries repeat them). For multi-state tests without a second real state's data."""
    import csv

    with open(src, newline="", encoding="utf-8") as fh, open(dst, "w", newline="", encoding="utf-8") as out:
        reader = csv.DictReader(fh)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            fields = {k.upper(): k for k in row}
            for column, delta in (("LON", dlon), ("LAT", dlat)):
                try:
                    row[fields[column]] = f"{float(row[fields[column]]) + delta:.7f}"
                except ValueError:  # the source's own bad rows stay bad (they are rejected alike)
                    pass
            row[fields["REGION"]] = state
            zipc = row[fields["POSTCODE"]]
            row[fields["POSTCODE"]] = zip_prefix + zipc[3:] if len(zipc) >= 5 else zipc
            row[fields["ID"]] = f"{state}-{row[fields['ID']]}"
            writer.writerow(row)
    return dst


@pytest.fixture(scope="session")
def two_state_reference(tmp_path_factory, small_oa) -> Path:
    """tests/data/oa_small.csv (Vermont: BLOOMFIELD, GUILDHALL, ZIP 05905) plus a copy of it as "NH",
    2 degrees east, ZIP 03905: two states with the same towns and streets."""
    from addrcode.geocoding.build import build_reference

    work = tmp_path_factory.mktemp("two-states")
    nh = relabelled_state(small_oa, work / "nh.csv", state="NH", zip_prefix="039", dlon=2.0)
    out = work / "vt-nh.sqlite"
    build_reference([small_oa, nh], out)
    return out


def _env_folder(tmp_path_factory, name: str, variable: str):
    """A fresh folder named in environment variable `variable` for the session (children inherit it)."""
    path = tmp_path_factory.mktemp(name)
    previous = os.environ.get(variable)
    os.environ[variable] = str(path)
    yield path
    if previous is None:
        os.environ.pop(variable, None)
    else:
        os.environ[variable] = previous


@pytest.fixture(scope="session", autouse=True)
def user_config_home(tmp_path_factory) -> Path:
    """An empty user config folder: a developer's own ~/.config/addrcode/addrcode.toml never reaches the tests."""
    yield from _env_folder(tmp_path_factory, "xdg-config", "XDG_CONFIG_HOME")


@pytest.fixture(scope="session", autouse=True)
def user_state_home(tmp_path_factory) -> Path:
    """A user state folder of the session's own (a station's rollback state file lives there)."""
    yield from _env_folder(tmp_path_factory, "xdg-state", "XDG_STATE_HOME")


@pytest.fixture(autouse=True)
def station_state(tmp_path_factory, monkeypatch) -> Path:
    """Each test its own station state folder: the newest table serial one test used never refuses
    another test's table (tests build tables with small fixed serials). Outside `tmp_path`, which
    some tests expect to hold only what they made."""
    folder = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder / "addrcode" / "station-state.json"


@pytest.fixture(scope="session", autouse=True)
def addrcode_cache(tmp_path_factory) -> Path:
    yield from _env_folder(tmp_path_factory, "addrcode-cache", "ADDRCODE_CACHE_DIR")


@pytest.fixture(scope="session")
def vt_reference(addrcode_cache) -> Path:
    from addrcode.geocoding.default import default_reference
    from addrcode.packaged import VT_SOURCE, data_path

    if not data_path(VT_SOURCE).is_file():
        pytest.skip("embedded Vermont data (data/vt-e911) absent")
    return default_reference(addrcode_cache)


def keyring_with_history(path: Path, now=None):
    """A real keyring at `path` whose window holds a revoked, a retired and an active generation.

    Returns (keyring as seen at `now`, epochs): `epochs` maps "revoked", "retired", "active" and
    "upcoming" to the window's `Epoch`; the "revoked" one is the key as it was before revocation
    (secret included), to make the codes someone may still hold. `now` defaults to the current time:
    tests that also run the CLI need the real clock (the CLI always uses it).
    """
    from addrcode.codes.keyring import load_keyring, new_keyring, revoke, rotate
    from addrcode.codes.schedule import utc_now

    now = now or utc_now()
    new_keyring(path, now=now)
    before = rotate(path, now=now)
    doomed = next(e for e in before.epochs if e.generation == 0)
    rotate(path, now=now)
    ring = revoke(path, doomed.id, now=now)
    assert load_keyring(path).at(now) == ring
    by_status = {e.status: e for e in ring.epochs if e.status != "revoked"}
    return ring, dict(by_status, revoked=doomed)


def run_cli_unconfigured(*args, cwd=None, timeout=300):
    """`python -m addrcode ARGS` with no ADDRCODE_* configuration from the environment but the session's cache."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ADDRCODE_") or k == "ADDRCODE_CACHE_DIR"}
    return subprocess.run([sys.executable, "-m", "addrcode", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def resign_table(path: Path, keyring) -> None:
    """Sign a station table again after editing it (to test the checks that come after the signature)."""
    from addrcode.stations import signing

    data = bytearray(path.read_bytes())
    off = signing._sig_offset(bytes(data))
    data[off: off + signing.SIG_LEN] = bytes(signing.SIG_LEN)
    path.write_bytes(bytes(data))
    signing.sign_file(path, keyring.signing_key)
