"""The one peak-RSS reading the benchmarks print (imported by them: `from peak import peak_rss_mb`)."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak RSS in MB. VmHWM belongs to the address space, so a child started from a
    big parent reports its own figure (ru_maxrss carries the parent's high-water mark across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
