"""One exception tree for the whole library.

The CLI maps these to exit codes: `UsageError` -> 2, every other `AddrcodeError` -> 3.
Messages name the file (and line where known) and say what to do; they never contain
an address, a coordinate or a key.
"""


class AddrcodeError(Exception):
    """Base of every error addrcode raises on purpose."""


class UsageError(AddrcodeError):
    """The command line or configuration asks for something impossible (exit code 2)."""


class DataError(AddrcodeError):
    """A data file (CSV, reference, zones, table) is missing, corrupt or of the wrong kind (exit code 3)."""


class KeyringError(AddrcodeError):
    """A keyring or signing key is missing, unreadable, too open or wrong (exit code 3)."""


class IntegrityError(DataError):
    """A signed file failed verification: tampered, truncated, unsigned or signed by another key."""
