"""Configuration layers: defaults -> TOML -> environment -> flags."""

from pathlib import Path

import pytest

from addrcode.config import Config, load_config
from addrcode.errors import DataError, UsageError


def test_defaults_without_anything():
    config = load_config(env={})
    assert config == Config()
    assert config.reference is None and config.locale == "us"


def test_toml_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "addrcode.toml").write_text('reference = "ref.sqlite"\ncell_size_m = 50\nmin_score = 0.7\n')
    config = load_config(tmp_path / "addrcode.toml", env={})
    assert config.reference == tmp_path / "ref.sqlite"
    assert config.cell_size_m == 50.0 and config.min_score == 0.7


def test_layers_override_in_order(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('locale = "us"\nzones = "z.geojson"\nmin_score = 0.3\n')
    env = {"ADDRCODE_CONFIG": str(toml), "ADDRCODE_ZONES": "/env/zones.geojson", "ADDRCODE_MIN_SCORE": "0.4"}
    config = load_config(env=env)
    assert config.zones == Path("/env/zones.geojson") and config.min_score == 0.4
    config = load_config(env=env, min_score=0.9, zones=None)
    assert config.min_score == 0.9 and config.zones == Path("/env/zones.geojson")


def test_unknown_key_and_bad_toml_fail_loudly(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("referense = 'x'\n")
    with pytest.raises(DataError, match="unknown configuration keys: referense"):
        load_config(bad, env={})
    bad.write_text("this is = not = toml")
    with pytest.raises(DataError, match="not a valid TOML"):
        load_config(bad, env={})
    with pytest.raises(UsageError, match="not found"):
        load_config(tmp_path / "missing.toml", env={})


def test_number_settings_are_checked():
    with pytest.raises(UsageError, match="min_score must be a number"):
        load_config(env={"ADDRCODE_MIN_SCORE": "high"})


def test_cache_size_reaches_the_geocoder_and_is_checked(tmp_path, small_reference):
    from addrcode.batch.jobs import open_geocoder
    from addrcode.geocoding.store import DEFAULT_CACHE_SIZE, POINTS_PER_CACHED_STREET

    assert Config.cache_size == DEFAULT_CACHE_SIZE  # config.py does not import the geocoder to read it
    (tmp_path / "c.toml").write_text(f'reference = "{small_reference}"\ncache_size = 160_000\n')
    config = load_config(tmp_path / "c.toml", env={})
    assert config.cache_size == 160_000
    assert load_config(tmp_path / "c.toml", env={"ADDRCODE_CACHE_SIZE": "40000"}).cache_size == 40_000
    with open_geocoder(config) as geocoder:
        streets = geocoder.store.streets
        assert streets.maxsize == 2 * 160_000 and streets.maxweight == POINTS_PER_CACHED_STREET * 2 * 160_000
    with open_geocoder(load_config(reference=str(small_reference), env={})) as geocoder:
        assert geocoder.store.streets.maxsize == 2 * DEFAULT_CACHE_SIZE
        assert geocoder.store.streets.maxweight == 1_000_000  # what the default always held
    for bad in ("500", "lots", "1.5e5", "-20000"):
        with pytest.raises(UsageError, match="cache_size must be a whole number"):
            load_config(env={"ADDRCODE_CACHE_SIZE": bad})
    (tmp_path / "bad.toml").write_text("cache_size = true\n")
    with pytest.raises(UsageError, match="cache_size"):
        load_config(tmp_path / "bad.toml", env={})


def test_a_bad_cache_size_stops_the_command_line_before_any_row(tmp_path, small_reference):
    import os
    import subprocess
    import sys

    src = tmp_path / "in.csv"
    src.write_text("address\n12 Main St, Essex, VT\n")
    env = {**os.environ, "ADDRCODE_REFERENCE": str(small_reference), "ADDRCODE_CACHE_SIZE": "lots"}
    res = subprocess.run([sys.executable, "-m", "addrcode", "geocode", "-i", str(src), "--column", "address",
                          "-o", str(tmp_path / "out.csv")], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and "cache_size must be a whole number" in res.stderr
    assert not (tmp_path / "out.csv").exists()
    env["ADDRCODE_CACHE_SIZE"] = "40000"
    res = subprocess.run([sys.executable, "-m", "addrcode", "config"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0 and "40000" in res.stdout and "ADDRCODE_CACHE_SIZE" in res.stdout


def test_cache_dir_default_and_override(tmp_path):
    assert load_config(env={}, cache_dir=str(tmp_path)).cache() == tmp_path
    assert "addrcode" in str(load_config(env={}).cache())


def test_locale_presets_apply_only_where_nothing_was_set(tmp_path):
    from addrcode.batch.jobs import zones_path

    au = load_config(env={}, locale="AU")
    assert au.locale == "au" and au.crs == "EPSG:3577"
    assert zones_path(au).name == "au-zones.geojson" and zones_path(au).is_file()  # no reference: the demo zones
    assert load_config(env={}, locale="au", crs="EPSG:3111").crs == "EPSG:3111"
    assert load_config(env={"ADDRCODE_ZONES": str(tmp_path / "z.geojson")}, locale="au").zones == tmp_path / "z.geojson"
    assert load_config(env={}).crs == "EPSG:5070"
    with pytest.raises(UsageError, match="unknown locale 'fr'"):
        load_config(env={}, locale="fr")


def _cli(*args, cwd, env=None):
    import os
    import subprocess
    import sys

    run_env = {**os.environ, **(env or {})}
    run_env.pop("ADDRCODE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "addrcode", *args], capture_output=True, text=True, cwd=cwd,
                          env=run_env, timeout=120)


def test_the_command_line_finds_addrcode_toml_here_then_in_the_user_config(tmp_path, small_reference,
                                                                           user_config_home):
    """`./addrcode.toml` is read by every command (here `reference info`, which names the reference in
    force); without one, the user's `$XDG_CONFIG_HOME/addrcode/addrcode.toml`; with neither, none."""
    here = tmp_path / "region"
    here.mkdir()
    (here / "addrcode.toml").write_text(f'reference = "{small_reference}"\n')
    (here / "addrcode.toml").chmod(0o600)
    got = _cli("reference", "info", cwd=here)
    assert got.returncode == 0, got.stderr
    assert f"path: {small_reference}" in got.stdout
    user = user_config_home / "addrcode"
    user.mkdir(exist_ok=True)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (user / "addrcode.toml").write_text(f'reference = "{small_reference}"\nmin_score = 0.9\n')
    (user / "addrcode.toml").chmod(0o600)
    try:
        got = _cli("reference", "info", cwd=other)
        assert got.returncode == 0 and f"path: {small_reference}" in got.stdout, got.stderr
    finally:
        (user / "addrcode.toml").unlink()
    from addrcode.config import find_config

    assert find_config(env={"XDG_CONFIG_HOME": str(user_config_home)}, cwd=other) is None


def test_a_found_config_writable_by_others_is_refused(tmp_path, small_reference):
    """A planted or shared `./addrcode.toml` could point addrcode at someone else's keyring or table."""
    (tmp_path / "addrcode.toml").write_text(f'reference = "{small_reference}"\n')
    (tmp_path / "addrcode.toml").chmod(0o666)
    got = _cli("reference", "info", cwd=tmp_path)
    assert got.returncode == 3 and "not yours alone" in got.stderr and "--config" in got.stderr, got.stderr
