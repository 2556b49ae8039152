"""The last mile: delivery details sealed to the delivering station, opened only there.

A delivery code routes a parcel to a 100 m cell, a zone and a sort center; the courier at the door
needs the house, the unit, the name and the phone. `addrcode encode --seal` puts those **delivery
details** on the label too, encrypted to the public key of the parcel's **delivery region** (by
default its sort center: the stations of one sort center share a delivery key), so that sorting
staff in between carry ciphertext only.

- `keys`: delivery key pairs (`addrcode key new --delivery REGION`): an X25519 secret key file
  (0600) at the station, its public key file (`.pub`) with the shipper; the shipper's folder of
  region public keys (`delivery_keys`).
- `envelope`: the sealed envelope: a libsodium sealed box (PyNaCl: X25519 + XSalsa20-Poly1305,
  an ephemeral sender key per parcel) of the padded details, behind a 5-byte header naming the
  recipient key, written in base45 (RFC 9285) for the QR's alphanumeric mode.
- `sealer`: the encode side: zone -> delivery region -> public key, details -> envelope.
- `audit`: the station's append-only, hash-chained log of every unseal (no address in it).
- `unseal`: the station side: scanned payloads or label images -> delivery details, one at a time.

Sorting-center commands (`resolve`, `scan`) never import this package's secret-key side: they drop
the envelope and read the code alone.
"""
