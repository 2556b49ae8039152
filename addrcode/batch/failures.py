"""What a record becomes when its job raises: an error record that names the exception's class only.

The exception's text is never in the output (it might hold the address). With `$ADDRCODE_DEBUG=1`
(`addrcode -v`) the traceback goes to stderr as well, to find the bug behind an "internal error".
"""

from __future__ import annotations

import sys

from addrcode.config import debug_enabled


def internal_error(exc: BaseException) -> dict:
    """The error record for a record whose job raised `exc` (its traceback on stderr when debugging)."""
    show_traceback(exc)
    return {"status": "error", "reason": f"internal error ({type(exc).__name__})"}


def show_traceback(exc: BaseException) -> None:
    """Print `exc`'s traceback on stderr when `$ADDRCODE_DEBUG` asks for it; else nothing."""
    if debug_enabled():
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        sys.stderr.flush()
