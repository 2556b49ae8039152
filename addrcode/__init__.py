"""addrcode: opaque delivery codes instead of addresses on parcel labels.

Pipeline stages, each a module with a small function API:
normalize -> reference/geocode -> grid -> zones -> codes -> table.
"""

__version__ = "0.1.0"
