"""The one place where failures become messages and exit codes.

Every HeimdallError is a single line on stderr and exit code 1; so are OS errors that
escape the library. No traceback reaches the user (set HEIMDALL_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    from .render import printable  # messages may quote a bundle or an argument: no escapes

    click.echo(f"Error: {printable(message)}", err=True)
    sys.exit(code)


def message_for(exc: BaseException) -> str | None:
    """The user-facing line for an exception we know, else None."""
    from heimdall_io.errors import HeimdallError

    if isinstance(exc, HeimdallError):
        return str(exc)
    if isinstance(exc, PermissionError):
        return f"Permission denied: {exc.filename}"
    if isinstance(exc, FileNotFoundError):
        return f"File not found: {exc.filename}"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, UnicodeEncodeError):
        return _unencodable(exc)
    return None


def _unencodable(exc: UnicodeEncodeError) -> str:
    """A lone surrogate (from an argument or a file name that is not UTF-8) reached a place
    that needs real Unicode: the database, a terminal. Show it escaped, never raw."""
    text = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
    shown = text.encode("ascii", "backslashreplace").decode("ascii")[:40]
    if any("\ud800" <= c <= "\udfff" for c in text):
        return f"text with a lone surrogate ({shown}) is not valid Unicode: use UTF-8 text"
    return f"cannot write {shown} as {exc.encoding}: use a UTF-8 locale (e.g. LANG=C.UTF-8)"


class Group(click.Group):
    """A click group that maps library errors to one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader of our stdout went away (`| head`): stop quietly.
            _silence_stdout()
            sys.exit(EXIT_FAILURE)
        except Exception as exc:
            if os.environ.get("HEIMDALL_DEBUG"):
                raise
            msg = message_for(exc)
            if msg is None:
                msg = f"unexpected {type(exc).__name__}: {exc} (set HEIMDALL_DEBUG=1 for details)"
            fail(msg)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
