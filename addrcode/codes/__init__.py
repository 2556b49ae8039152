"""Delivery codes and their keys.

- `scheme`: cell + key epoch -> `PPP-EOOOO-C` and back (Crockford base32, Damm check character).
- `ff1`: FF1 format-preserving encryption (NIST SP 800-38G) over AES from `cryptography`.
- `keyring`: key epochs (rotate, revoke) and the Ed25519 key that signs station tables.
- `payload`: scanner payloads (AIM prefix, ``CODE:`` label, CR/LF framing) cleaned into code text.
"""
