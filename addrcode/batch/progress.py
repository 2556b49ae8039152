"""A progress bar on stderr for a batch run over a file, by bytes of input read (a `frame.Progress`)."""

from __future__ import annotations

import sys


class TerminalProgress:
    """click's progress bar on stderr, moved to absolute byte counts (`update_to`) as the readers report them."""

    def __init__(self, total: int):
        import click  # lazily: the library runs without a terminal

        self._bar = click.progressbar(length=total, file=sys.stderr, label="addrcode")
        self._bar.__enter__()
        self._done = 0

    def update_to(self, n: int) -> None:
        """Show `n` bytes read (counts only move forward)."""
        if n > self._done:
            self._bar.update(n - self._done)
            self._done = n

    def finish(self) -> None:
        """Close the bar (end its line)."""
        self._bar.__exit__(None, None, None)
