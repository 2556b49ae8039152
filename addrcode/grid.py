"""Grid stage: lon/lat -> a fixed square cell of a projected equal-area grid.

Why one national grid in EPSG:5070 (NAD83 / CONUS Albers equal-area, metres)
----------------------------------------------------------------------------
* **Codes outlive data.** A printed code names a cell. The grid therefore has no data-dependent
  parameter at all: its origin is the CRS origin shifted by a fixed amount, its cell size is
  configuration. Adding reference points, towns or states never moves a cell, so a cell's id is
  stable for as long as (crs, cell size) are.
* **One scheme for every state.** A per-state CRS (Vermont State Plane, UTM zones) would give each
  state its own cell numbering and make codes from two states collide or need a state tag. EPSG:5070
  covers the contiguous US in one plane, so a district number means the same place everywhere.
* **Equal area.** Albers is equal-area: every 100 m cell covers 1 ha wherever it is, so "addresses
  per cell" (privacy: how many households share a code) and table sizes do not drift with latitude,
  as they would with a lon/lat grid (a 0.001 degree cell is 30 % narrower in Vermont than in
  Florida). Shape distortion across CONUS is a few percent, irrelevant for delivery cells.
* Other locales pass another metric CRS (e.g. EPSG:3577 Australian Albers, EPSG:6691 for Japan).

Layout (decided, printed codes depend on it)
--------------------------------------------
A district is 1024 x 1024 cells (D = 1024 * cell_size_m; 102.4 km at 100 m, the "coarse ~100 km"
routing district of DESIGN.md). The grid is centred on the CRS origin: origin = (-64 D, -64 D),
128 x 128 districts (13,107 km square at 100 m). For a projected point (x, y)::

    gx = floor((x - x0) / cell)    gy = floor((y - y0) / cell)
    dx, ix = divmod(gx, 1024)      dy, iy = divmod(gy, 1024)
    district = dx * 128 + dy       in [0, 32768)
    index    = iy * 1024 + ix      in [0, 2**20)

The index domain (2**20 = 1,048,576) is what the code stage permutes with FF1, which needs a
domain of at least 1,000,000.

pyproj and numpy are imported inside methods: `addrcode resolve` imports the package and must
start fast without them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from addrcode.errors import UsageError

CELLS_PER_DISTRICT_SIDE = 1024
DISTRICTS_PER_SIDE = 128
N_DISTRICTS = DISTRICTS_PER_SIDE * DISTRICTS_PER_SIDE  # 32768
N_INDEX = CELLS_PER_DISTRICT_SIDE * CELLS_PER_DISTRICT_SIDE  # 2**20
_HALF = DISTRICTS_PER_SIDE // 2  # origin offset in districts


@lru_cache(maxsize=8)
def _transformers_for(crs_text: str):
    """(forward, inverse) Transformers for one CRS, shared by Grids of any cell size (building one costs ~20 ms)."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(crs_text)
    except CRSError:
        raise UsageError(f"grid CRS {crs_text!r} is not known to PROJ; give an EPSG code such as EPSG:5070") from None
    units = {ax.unit_name for ax in crs.axis_info}
    if not crs.is_projected or not units <= {"metre", "meter"}:
        raise UsageError(f"grid CRS {crs_text!r} must be a projected CRS in metres (e.g. EPSG:5070, EPSG:3577)")
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return fwd, inv


@dataclass(frozen=True)
class Cell:
    """One grid cell: `district` (routing district) and `index` (cell within the district)."""

    district: int
    index: int

    @property
    def ix(self) -> int:
        """Column of the cell inside its district (0..1023, west to east)."""
        return self.index % CELLS_PER_DISTRICT_SIDE

    @property
    def iy(self) -> int:
        """Row of the cell inside its district (0..1023, south to north)."""
        return self.index // CELLS_PER_DISTRICT_SIDE

    @property
    def dx(self) -> int:
        """District column (0..127, west to east)."""
        return self.district // DISTRICTS_PER_SIDE

    @property
    def dy(self) -> int:
        """District row (0..127, south to north)."""
        return self.district % DISTRICTS_PER_SIDE


@dataclass(frozen=True)
class Grid:
    """A fixed square grid in a projected metric CRS (see module docstring for the layout).

    Two Grids are equal when their CRS string and cell size are equal; the pyproj transformers
    are built on first use, shared by Grids of the same CRS and cached on the instance (not pickled:
    rebuilt lazily in worker processes).
    """

    crs: str = "EPSG:5070"
    cell_size_m: float = 100.0
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        size = self.cell_size_m
        if not isinstance(size, (int, float)) or not math.isfinite(size) or size <= 0:
            raise UsageError("grid cell size must be a positive number of metres (check `cell_size_m` in the config)")

    def __getstate__(self) -> dict:
        # pyproj transformers are process-local; rebuild them lazily after unpickling.
        return {"crs": self.crs, "cell_size_m": self.cell_size_m}

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "crs", state["crs"])
        object.__setattr__(self, "cell_size_m", state["cell_size_m"])
        object.__setattr__(self, "_cache", {})

    # -- geometry of the layout ------------------------------------------------------------

    @property
    def district_size_m(self) -> float:
        """Side of a district in metres (1024 cells)."""
        return CELLS_PER_DISTRICT_SIDE * self.cell_size_m

    @property
    def origin(self) -> tuple[float, float]:
        """South-west corner of district 0 in projected metres: (-64 D, -64 D)."""
        o = -_HALF * self.district_size_m
        return (o, o)

    def check(self) -> Grid:
        """Build the CRS transformers now and return the grid; `UsageError` if the CRS is unknown or not
        metric. Call it where a job is set up, so a bad CRS is one usage error, not an error per record."""
        self._transformers()
        return self

    def _transformers(self):
        """(forward lon/lat -> x/y, inverse) pyproj Transformers, built once per Grid."""
        pair = self._cache.get("tr")
        if pair is None:
            pair = self._cache["tr"] = _transformers_for(self.crs)
        return pair

    def project(self, lon, lat):
        """lon/lat (degrees, arrays or scalars) -> projected x, y in metres (numpy arrays)."""
        import numpy as np

        fwd, _ = self._transformers()
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        x, y = fwd.transform(lon, lat, errcheck=False)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def cells_xy(self, x, y):
        """Projected x, y (metres) -> (district int32, index int32, valid bool) arrays.

        Invalid points (non-finite, or outside the 128 x 128 district square) get
        district = index = -1 and valid = False; the batch never raises for one bad point.
        """
        import numpy as np

        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        x0, y0 = self.origin
        side = DISTRICTS_PER_SIDE * CELLS_PER_DISTRICT_SIDE
        with np.errstate(invalid="ignore", over="ignore"):
            gxf = np.floor((x - x0) / self.cell_size_m)
            gyf = np.floor((y - y0) / self.cell_size_m)
            valid = np.isfinite(gxf) & np.isfinite(gyf) & (gxf >= 0) & (gxf < side) & (gyf >= 0) & (gyf < side)
        gx = np.where(valid, gxf, 0).astype(np.int64)
        gy = np.where(valid, gyf, 0).astype(np.int64)
        dx, ix = np.divmod(gx, CELLS_PER_DISTRICT_SIDE)
        dy, iy = np.divmod(gy, CELLS_PER_DISTRICT_SIDE)
        district = np.where(valid, dx * DISTRICTS_PER_SIDE + dy, -1).astype(np.int32)
        index = np.where(valid, iy * CELLS_PER_DISTRICT_SIDE + ix, -1).astype(np.int32)
        return district, index, valid

    def cells(self, lon, lat):
        """lon/lat arrays (degrees, WGS84) -> (district int32, index int32, valid bool) arrays.

        Vectorised with one cached pyproj Transformer. Points with NaN or out-of-range
        coordinates, or outside the grid's district square, are flagged valid = False
        (district = index = -1) instead of raising, so one bad row never sinks a batch.
        """
        import numpy as np

        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        if lon.shape != lat.shape:
            raise UsageError("grid: lon and lat arrays must have the same length")
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
        # Feed NaN for bad inputs so PROJ returns inf there instead of wrapping longitudes.
        x, y = self.project(np.where(ok, lon, np.nan), np.where(ok, lat, np.nan))
        district, index, valid = self.cells_xy(x, y)
        return district, index, valid & ok

    def cell(self, lon: float, lat: float) -> Cell | None:
        """The Cell of one lon/lat point, or None if it is invalid or outside the grid.

        A scalar path without numpy (~10x faster per call than a 1-element `cells`); it performs the same
        floating-point operations, so it always agrees with the vectorised path (tested).
        """
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(lon) and math.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90):
            return None
        fwd, _ = self._transformers()
        x, y = fwd.transform(lon, lat, errcheck=False)
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        x0, y0 = self.origin
        gx = math.floor((x - x0) / self.cell_size_m)
        gy = math.floor((y - y0) / self.cell_size_m)
        side = DISTRICTS_PER_SIDE * CELLS_PER_DISTRICT_SIDE
        if not (0 <= gx < side and 0 <= gy < side):
            return None
        dx, ix = divmod(gx, CELLS_PER_DISTRICT_SIDE)
        dy, iy = divmod(gy, CELLS_PER_DISTRICT_SIDE)
        return Cell(dx * DISTRICTS_PER_SIDE + dy, iy * CELLS_PER_DISTRICT_SIDE + ix)

    def _check_ids(self, district, index):
        import numpy as np

        district = np.asarray(district, dtype=np.int64)
        index = np.asarray(index, dtype=np.int64)
        if np.any((district < 0) | (district >= N_DISTRICTS)) or np.any((index < 0) | (index >= N_INDEX)):
            raise UsageError(f"grid: district must be in [0, {N_DISTRICTS}) and index in [0, {N_INDEX})")
        return district, index

    def corner_xy(self, district, index):
        """South-west corner (x, y) in projected metres of the given cells (vectorised)."""
        district, index = self._check_ids(district, index)
        gx = (district // DISTRICTS_PER_SIDE) * CELLS_PER_DISTRICT_SIDE + index % CELLS_PER_DISTRICT_SIDE
        gy = (district % DISTRICTS_PER_SIDE) * CELLS_PER_DISTRICT_SIDE + index // CELLS_PER_DISTRICT_SIDE
        x0, y0 = self.origin
        return x0 + gx * self.cell_size_m, y0 + gy * self.cell_size_m

    def center_xy(self, district, index):
        """Cell centre (x, y) in projected metres (vectorised over district/index arrays)."""
        x, y = self.corner_xy(district, index)
        half = self.cell_size_m / 2.0
        return x + half, y + half

    def center(self, district, index):
        """Cell centre as (lon, lat) degrees WGS84 (vectorised; scalars in give 0-d arrays)."""
        import numpy as np

        _, inv = self._transformers()
        x, y = self.center_xy(district, index)
        lon, lat = inv.transform(x, y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def cell_polygon(self, district: int, index: int, *, projected: bool = False):
        """The cell as a shapely Polygon, in lon/lat (default) or in the grid CRS.

        Each edge is densified to a few vertices before unprojecting, so the lon/lat outline follows the
        true (projected-straight) cell edge closely enough for maps.
        """
        import numpy as np
        import shapely

        x, y = self.corner_xy(int(district), int(index))
        s = self.cell_size_m
        ring = shapely.Polygon([(x, y), (x + s, y), (x + s, y + s), (x, y + s)])
        if projected:
            return ring
        _, inv = self._transformers()
        ring = shapely.segmentize(ring, s / 4)
        return shapely.transform(ring, lambda c: np.column_stack(inv.transform(c[:, 0], c[:, 1])))
