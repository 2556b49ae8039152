"""Geocoding: a normalized address + a local reference of address points -> a point, precision and score.

- `reference`: the reference's SQLite format and opening it; `build`: building one from
  OpenAddresses-layout files; `default`: the embedded default, built once into the cache.
- `rules`: what differs per locale (state names, town words); `keys`: matching keys for streets,
  towns and house numbers, the same on both sides.
- `guided`: reading free text with the reference's town names; `store`: the reference's towns and
  streets through bounded caches; `scoring`: candidates scored by named factors; `geocoder`: the
  `Geocoder` that ties them together.
"""
