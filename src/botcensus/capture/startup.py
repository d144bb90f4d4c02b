"""Why the sinkhole could not start, said in one line: the operator's error, not a traceback."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator


class StartError(RuntimeError):
    """The sinkhole could not start; the message names what failed and why, in one line.
    supervisor.serve raises it only once it has stopped what it had started."""


def describe(exc: OSError) -> str:
    """The reason an OSError gives, without the errno number or a repeat of the address."""
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def starting(what: str) -> Iterator[None]:
    """Turn an OSError raised while doing `what` into a StartError saying `what: why`."""
    try:
        yield
    except OSError as exc:
        raise StartError(f"{what}: {describe(exc)}") from None
