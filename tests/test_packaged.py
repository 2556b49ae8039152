"""Where the packaged data is found, in a regular (not editable) install as a user gets it."""

import subprocess
import sys

from conftest import ROOT


def test_a_regular_install_finds_its_packaged_data(tmp_path):
    # `pip install .` puts `data/` at `addrcode/data` in site-packages; the embedded reference source,
    # zones and demo keyring must be found there, not beside the package (where they once were looked for).
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(ROOT)], check=True, capture_output=True)
    probe = ("import addrcode.packaged as p; from pathlib import Path; "
             "d = p.data_dir(); print(d); print(all((d / n).is_file() for n in "
             "(p.VT_SOURCE, p.VT_ZONES, p.DEMO_KEYRING)))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == str(target / "addrcode" / "data") and out[1] == "True"
