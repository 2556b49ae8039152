"""Table size cost of the cover and of the key window (issue 19): the embedded Vermont reference, demo keyring.

Prints cover statistics, then rows, MB and CPU seconds of a full table and one station extract, with and
without the cover, built in the same run. Run: python benchmarks/table_cover.py
"""
import os, time, resource
from pathlib import Path
from addrcode.geocoding.default import default_reference
from addrcode.grid import Grid
from addrcode.zones import load_zones, default_zones_path
from addrcode.stations.cells import issuable_cells
from addrcode.stations.cover import covered_cells
from addrcode.stations.build import build_table
from addrcode.codes.keyring import load_keyring, demo_keyring_path
import tempfile
ref = default_reference(Path(os.path.expanduser("~/.cache/addrcode")), print)
g=Grid(); z=load_zones(default_zones_path()); k=load_keyring(demo_keyring_path())
iss=issuable_cells(ref,g)
t=time.process_time(); st={}; covered_cells(ref,z,g,issuable=iss,stats=st); print("cover cpu s", round(time.process_time()-t,1), st)
d=tempfile.mkdtemp()
for name, kw in [("bare-all", dict(cover=False)), ("cover-all", {}), ("bare-SC-ESSEX", dict(cover=False, station="SC-ESSEX")), ("cover-SC-ESSEX", dict(station="SC-ESSEX"))]:
    t=time.process_time(); info=build_table(ref,z,k,g,Path(d)/f"{name}.sqlite",cells=iss,**kw)
    print(name, "rows", info.rows, "MB", round(info.size_bytes/1e6,1), "cpu s", round(time.process_time()-t,1))
print("peak RSS MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss//1024)
