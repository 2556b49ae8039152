"""Reference building, opening and metadata, on real files."""

import csv
import gzip
import os
import shutil
import sqlite3
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addrcode.errors import DataError
from addrcode.geocoding.build import build_reference, read_oa
from addrcode.geocoding.default import default_reference
from addrcode.geocoding.reference import FORMAT_VERSION, open_reference, reference_info


def test_build_counts_and_rejects(tmp_path, small_oa):
    rej = tmp_path / "rejects.csv"
    rep = build_reference([small_oa], tmp_path / "r.sqlite", rejects=rej)
    assert rep.rows_read == 481
    assert rep.rows_rejected == 4 and rep.rows_kept == 477
    assert rep.reject_reasons == {"bad lon/lat": 1, "lon/lat out of range": 1, "no house number": 1, "no street": 1}
    rows = list(csv.DictReader(open(rej)))
    assert [r["reason"] for r in rows] == ["bad lon/lat", "lon/lat out of range", "no house number", "no street"]
    assert rows[0]["source"] == "oa_small.csv" and rows[0]["line"] == "479"
    assert rep.cities == 2 and rep.postcodes == 1


def test_info_records_sources_and_counts(small_reference, small_oa):
    info = reference_info(small_reference)
    assert info["format_version"] == FORMAT_VERSION
    assert info["sources"][0]["name"] == "oa_small.csv"
    assert len(info["sources"][0]["sha256"]) == 64 and info["sources"][0]["rows"] == 481
    assert info["counts"]["points"] == 477 and info["counts"]["cities"] == 2
    assert info["locale"] == "us" and info["built_at"].endswith("Z")


def test_gzip_and_several_sources(tmp_path, small_oa):
    gz = tmp_path / "a.csv.gz"
    with open(small_oa, "rb") as f, gzip.open(gz, "wb") as g:
        shutil.copyfileobj(f, g)
    rep = build_reference([gz, small_oa], tmp_path / "r.sqlite")
    assert rep.rows_kept == 2 * 477
    assert len(reference_info(tmp_path / "r.sqlite")["sources"]) == 2


def test_missing_column_names_the_file(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("lon,lat,street\n1,2,MAIN ST\n")
    with pytest.raises(DataError, match="bad.csv.*NUMBER"):
        build_reference([p], tmp_path / "r.sqlite")
    assert not (tmp_path / "r.sqlite").exists()
    assert list(tmp_path.glob("*.tmp")) == []  # no temp file left behind


def test_header_case_insensitive_extra_columns_ignored(small_oa):
    line, row = next(read_oa(small_oa))
    assert line == 2 and set(row) >= {"LON", "LAT", "NUMBER", "STREET", "CITY", "POSTCODE", "ID"}
    assert "EXTRA" not in row


def test_open_rejects_non_sqlite_and_foreign_sqlite(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(DataError, match="not an addrcode reference"):
        open_reference(junk)
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t(x)")
    db.commit()
    db.close()
    with pytest.raises(DataError, match="not an addrcode reference"):
        open_reference(other)
    with pytest.raises(DataError, match="not found"):
        open_reference(tmp_path / "missing.sqlite")


def test_open_rejects_other_format_version(tmp_path, small_reference):
    p = tmp_path / "v.sqlite"
    shutil.copy(small_reference, p)
    db = sqlite3.connect(p)
    db.execute(f"PRAGMA user_version={FORMAT_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(DataError, match="format version"):
        open_reference(p)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_opens_from_read_only_directory(tmp_path, small_reference):
    d = tmp_path / "ro"
    d.mkdir()
    shutil.copy(small_reference, d / "r.sqlite")
    d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        db = open_reference(d / "r.sqlite")
        assert db.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 477
        db.close()
    finally:
        d.chmod(stat.S_IRWXU)


def test_opened_read_only(small_reference):
    db = open_reference(small_reference)
    with pytest.raises(sqlite3.OperationalError):
        db.execute("DELETE FROM points")
    db.close()


def test_default_reference_built_once(tmp_path, small_oa):
    msgs = []
    p1 = default_reference(tmp_path, notify=msgs.append, source=small_oa)
    assert p1.is_file() and len(msgs) == 1 and f"v{FORMAT_VERSION}" in p1.name
    p2 = default_reference(tmp_path, notify=msgs.append, source=small_oa)
    assert p2 == p1 and len(msgs) == 1


def test_default_reference_cache_is_checked_on_reuse(tmp_path, small_oa, capsys):
    """A cached default reference whose bytes changed after it was built (here: one byte of a page flipped
    in place, keeping its size) is rebuilt with a note, never used; a copy of the intact file (new stamp,
    same bytes) is used without a rebuild; a cache with no integrity record is rebuilt."""
    from addrcode.geocoding.geocoder import Geocoder

    def geocode(p):
        g = Geocoder(p)
        try:
            r = g.geocode("1033 Boudle Rd, Bloomfield VT 05905")
            return r.precision, r.lon, r.lat
        finally:
            g.close()

    msgs = []
    p = default_reference(tmp_path, notify=msgs.append, source=small_oa)
    want, built = geocode(p), p.read_bytes()
    assert (tmp_path / (p.name + ".sha256")).is_file() and len(msgs) == 1
    data = bytearray(built)
    data[len(data) // 2] ^= 0xFF  # a corrupt or tampered page, same size
    with open(p, "r+b") as f:
        f.write(data)
    assert default_reference(tmp_path, notify=msgs.append, source=small_oa) == p
    assert "does not match the SHA-256 recorded" in msgs[1] and msgs[2].startswith("building the default reference")
    assert p.read_bytes() != bytes(data) and geocode(p) == want and want[0] == "point"
    assert default_reference(tmp_path, notify=msgs.append, source=small_oa) == p and len(msgs) == 3  # reading kept it
    # the intact bytes under a new inode and times: hashed again, accepted, re-stamped (no rebuild)
    shutil.copy(p, tmp_path / "copy")
    os.replace(tmp_path / "copy", p)
    assert default_reference(tmp_path, notify=msgs.append, source=small_oa) == p and len(msgs) == 3
    # no record (a cache from before the check): rebuilt, and said so (stderr without notify)
    (tmp_path / (p.name + ".sha256")).unlink()
    assert default_reference(tmp_path, source=small_oa) == p
    assert "no integrity record" in capsys.readouterr().err and geocode(p) == want


def test_default_reference_of_several_sources_and_a_locale(tmp_path, small_oa):
    import shutil

    other = tmp_path / "other.csv"
    shutil.copy(small_oa, other)
    p_us = default_reference(tmp_path / "c", source=small_oa)
    p_au = default_reference(tmp_path / "c", sources=[small_oa, other], locale="au")
    # the name carries the locale and a hash over all sources: a different file from the US one
    assert p_au != p_us and "-au-" in p_au.name and "-us-" in p_us.name
    info = reference_info(p_au)
    assert info["locale"] == "au" and [s["name"] for s in info["sources"]] == [small_oa.name, "other.csv"]
    assert default_reference(tmp_path / "c", sources=[small_oa, other], locale="au") == p_au
    assert p_us.is_file()  # another locale's reference of the same data is not stale
    p_au1 = default_reference(tmp_path / "c", sources=[small_oa], locale="au")  # same single source as US
    assert p_au1 != p_us and p_us.is_file() and p_au1.is_file()


def test_whole_vermont_builds(vt_reference):
    info = reference_info(vt_reference)
    assert info["counts"]["points"] == 248105
    assert info["counts"]["cities"] == 245 and info["counts"]["postcodes"] == 255


def test_schema_mismatch_fails_at_open(tmp_path, small_reference):
    """A reference of the right version but another schema fails at open with "rebuild", never per row."""
    from addrcode.geocoding.geocoder import Geocoder

    p = tmp_path / "s.sqlite"
    shutil.copy(small_reference, p)
    db = sqlite3.connect(p)
    db.execute("ALTER TABLE streets DROP COLUMN p0")
    db.commit()
    db.close()
    with pytest.raises(DataError, match="streets.p0.*rebuild"):
        open_reference(p)
    with pytest.raises(DataError, match="rebuild"):
        Geocoder(p)


def test_street_points_are_one_contiguous_id_range(small_reference):
    db = open_reference(small_reference)
    bad = db.execute("SELECT COUNT(*) FROM streets s WHERE s.n != s.p1 - s.p0 + 1 OR EXISTS "
                     "(SELECT 1 FROM points p WHERE p.id BETWEEN s.p0 AND s.p1 AND p.street_id != s.id)").fetchone()[0]
    db.close()
    assert bad == 0


def test_default_reference_name_follows_code_and_source(tmp_path, small_oa, monkeypatch):
    from addrcode.geocoding import default as reference

    src = tmp_path / "src.csv"
    shutil.copy(small_oa, src)
    p1 = default_reference(tmp_path / "cache", source=src)
    assert reference.code_version() in p1.name
    # the source hash is remembered by (path, size, mtime): not re-read on the next call
    calls = []
    monkeypatch.setattr(reference, "sha256_file", lambda path: calls.append(path) or "0" * 64)
    assert default_reference(tmp_path / "cache", source=src) == p1 and calls == []
    # changed data: re-hashed, and a new reference
    with open(src, "a") as f:
        f.write("-72.5,44.5,9,NEW ST,,GUILDHALL,,VT,05905,x,\n")
    monkeypatch.undo()
    p2 = default_reference(tmp_path / "cache", source=src)
    assert p2 != p1 and p2.is_file()
    # changed reference-building code (here: another addrcode version): another name, and the
    # stale reference of the same data is removed once the new one is built
    monkeypatch.setattr("addrcode.__version__", "999.0")
    assert reference.code_version() not in p2.name
    p3 = default_reference(tmp_path / "cache", source=src)
    assert p3 != p2 and p3.is_file() and not p2.exists()
    assert p1.exists()  # other data (the file before the edit): left alone


def test_code_version_covers_keys_rules_and_tables():
    """The default reference's name changes with the code and tables that shape its keys."""
    from addrcode.geocoding import default as reference
    from addrcode.normalize.tables import default_tables_dir
    from addrcode.packaged import package_dir

    covered = {p.resolve() for p in reference.code_files()}
    # every module of the stages that shape a reference, wherever a later change splits them
    stage_code = {p.resolve() for stage in ("geocoding", "normalize") for p in (package_dir() / stage).glob("*.py")}
    assert len(stage_code) >= 8 and stage_code <= covered
    assert "usps_street_suffixes.csv" in {p.name for p in covered}
    tables = {p.resolve() for p in default_tables_dir().rglob("*") if p.is_file()}
    assert tables <= {p.resolve() for p in reference.code_files()}


def test_town_forms_are_every_street_at_every_level_shortest_first(small_reference):
    """The stored fuzzy forms (what a misspelt street is matched against) hold every street and alias
    of the town at every level, sorted by length (the geocoder bisects on it), each naming a core key
    that the town's exact look-up finds."""
    from addrcode.geocoding.keys import FUZZY_LEVELS, street_form
    from addrcode.geocoding.store import ReferenceStore

    store = ReferenceStore(small_reference)
    try:
        towns = [r[0] for r in store.db.execute("SELECT id FROM cities")]
        assert towns
        for cid in towns:
            fulls = store.db.execute("SELECT full FROM streets WHERE city_id=? UNION ALL "
                                     "SELECT full FROM street_aliases WHERE city_id=?", (cid, cid)).fetchall()
            for level in FUZZY_LEVELS:
                forms, cores, lens = store.town_forms(cid, level)
                assert lens == sorted(lens) and lens == [len(f) for f in forms]
                assert set(forms) == {street_form(f, level, store.rules) for (f,) in fulls}
                assert all(store.town_streets(cid, core) for core in cores)
    finally:
        store.close()


@given(st.lists(st.integers(min_value=-2**63, max_value=2**63 - 1)))
@settings(max_examples=200, deadline=None)
def test_street_numbers_pack_round_trip(nums):
    """`streets.nums` holds any number SQLite does, in 4 bytes each while they fit in 32 bits."""
    from addrcode.geocoding.reference import pack_numbers, unpack_numbers

    blob = pack_numbers(nums)
    assert list(unpack_numbers(blob)) == nums
    if all(-2**31 <= n < 2**31 for n in nums):
        assert len(blob) == 1 + 4 * len(nums)


def test_street_numbers_match_the_points(small_reference):
    """Each street's stored numbers are its points' numbers in id order (what bisection and the lazy
    point reads rely on)."""
    from addrcode.geocoding.reference import unpack_numbers

    db = open_reference(small_reference)
    try:
        for p0, p1, blob in db.execute("SELECT p0, p1, nums FROM streets"):
            want = [r[0] for r in db.execute("SELECT num FROM points WHERE id BETWEEN ? AND ? ORDER BY id", (p0, p1))]
            assert list(unpack_numbers(blob)) == want == sorted(want)
    finally:
        db.close()


def test_swapped_and_wrong_sign_coordinates_are_rejected_with_their_line(tmp_path, small_oa):
    """Rows whose LAT/LON are swapped or lost their minus sign land thousands of km from their town:
    rejected with a reason, their source file and line, and counted; the rest of the town is kept."""
    from addrcode.geocoding.build import FAR_REASON
    from addrcode.geocoding.geocoder import Geocoder

    rows = list(csv.DictReader(small_oa.open()))
    bad = []
    for i, r in enumerate(rows[:4]):
        r = dict(r, NUMBER=str(99991 + 2 * i))
        r["LON"], r["lat"] = (r["lat"], r["LON"]) if i < 3 else (r["LON"].lstrip("-"), r["lat"])
        bad.append(r)
    src = tmp_path / "with-bad.csv"
    with open(src, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows + bad)
    out, rej = tmp_path / "ref.sqlite", tmp_path / "rejects.csv"
    rep = build_reference([src], out, rejects=rej)
    assert rep.reject_reasons.get(FAR_REASON) == 4
    assert rep.rows_kept == rep.rows_read - sum(rep.reject_reasons.values()) and rep.rows_read == len(rows) + 4
    far = [r for r in csv.DictReader(rej.open()) if r["reason"] == FAR_REASON]
    assert sorted(int(r["line"]) for r in far) == list(range(len(rows) + 2, len(rows) + 6))
    assert {r["source"] for r in far} == {src.name} and {r["NUMBER"] for r in far} == {b["NUMBER"] for b in bad}
    info = reference_info(out)
    assert info["counts"]["rejected"] == rep.rows_rejected and info["sources"][0]["kept"] == rep.rows_kept
    db = open_reference(out)
    try:  # the reference's extent is Vermont's: nothing in Antarctica or Asia
        lon_min, lon_max, lat_min, lat_max = db.execute(
            "SELECT MIN(lon), MAX(lon), MIN(lat), MAX(lat) FROM points").fetchone()
        assert -75 < lon_min <= lon_max < -70 and 42 < lat_min <= lat_max < 46
    finally:
        db.close()
    with Geocoder(out) as g:
        assert g.geocode("2610 Boudle Rd, Bloomfield VT 05905").precision == "point"


def test_a_source_with_a_header_and_no_rows_is_an_error(tmp_path, small_oa):
    empty = tmp_path / "empty.csv"
    empty.write_text(small_oa.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match="empty.csv: no address rows"):
        build_reference([small_oa, empty], tmp_path / "ref.sqlite")
    assert not (tmp_path / "ref.sqlite").exists()
