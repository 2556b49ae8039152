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


def test_cache_dir_default_and_override(tmp_path):
    assert load_config(env={}, cache_dir=str(tmp_path)).cache() == tmp_path
    assert "addrcode" in str(load_config(env={}).cache())


def test_locale_presets_apply_only_where_nothing_was_set(tmp_path):
    au = load_config(env={}, locale="AU")
    assert au.locale == "au" and au.crs == "EPSG:3577" and au.zones.name == "au-zones.geojson"
    assert au.zones.is_file()
    assert load_config(env={}, locale="au", crs="EPSG:3111").crs == "EPSG:3111"
    assert load_config(env={"ADDRCODE_ZONES": str(tmp_path / "z.geojson")}, locale="au").zones == tmp_path / "z.geojson"
    assert load_config(env={}).crs == "EPSG:5070"
    with pytest.raises(UsageError, match="unknown locale 'fr'"):
        load_config(env={}, locale="fr")
