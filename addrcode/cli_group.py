"""The command group's error handling: library errors, Ctrl-C and a closed pipe -> message and exit code.

The exit codes are the CLI contract (README, "Exit codes").
"""

from __future__ import annotations

import os
import sys

import click

from addrcode.errors import AddrcodeError, UsageError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_INTERRUPTED = 0, 1, 2, 3, 130  # 130 = 128 + SIGINT
EXIT_PIPE_CLOSED = 141  # 128 + SIGPIPE: what `yes | head` reports, so `set -o pipefail` scripts see the cut


class AddrcodeGroup(click.Group):
    """Turns library errors into a one-line message and the documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AddrcodeError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(EXIT_USAGE if isinstance(exc, UsageError) else EXIT_DATA)
        except KeyboardInterrupt:  # the batch core has said what was kept and how to resume
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # the reader left (`| head`): quiet, and not "some records failed"
            quiet_stdout()
            ctx.exit(EXIT_PIPE_CLOSED)


def quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail on the closed pipe."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
