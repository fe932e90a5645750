"""SIGINT (Ctrl-C) and SIGTERM: one line and the shell's exit status, at any moment of a command.

Every command installs ``stop_with_one_line`` first, before its heavy imports, so that a signal while
it starts, composes its configuration, opens its storage or writes a report ends with one line saying
what was kept and what to do, and exit status 128 + the signal's number (130, 143). A study replaces
these handlers while its rounds run (``harness.study._stoppable``, which knows the round to name).

After the first signal every further one is ignored: the clean-up that follows (closing the storage,
removing a half-written temporary file, atexit callbacks) is not itself interrupted, and two Ctrl-Cs
in quick succession give one line, not a traceback from inside the clean-up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# The stop signals stop_with_one_line has caught. Its SystemExit may be swallowed where it lands (a
# garbage-collection callback while a library imports): what runs next still knows it must stop.
requested: list[int] = []
EXIT_GRACE_S = 5.0  # how long a stopped command may take to clean up before it is made to leave
_held: list[bool] = []  # inside held_while_importing: a start-up signal's exit waits for the block's end


def quiet_unraisable(*kinds: type[BaseException]) -> None:
    """Where a signal handler's raise lands in a garbage-collection callback, the interpreter swallows
    it and prints "Exception ignored in ..." with a traceback: not for our own stop signals, whose
    one line is said elsewhere."""
    default = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, kinds):
            default(unraisable)

    sys.unraisablehook = hook


def ignore_further() -> None:
    """From now on SIGINT and SIGTERM do nothing in this process (main thread only). SIG_IGN, not a
    Python function: the interpreter resets Python handlers to the default (death by the signal) as
    it shuts down, where a second Ctrl-C would then kill it without a word."""
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def held_while_importing() -> Iterator[None]:
    """Hold a start-up signal's exit while compiled extensions import (torch): their initialisers call
    back into Python, and a SystemExit raised there aborts the process (seen under load: exit -6 and
    a C++ "terminate called" instead of one line and 130). The signal's line is said at once; the
    exit comes as the block ends (or from the watchdog, if the import outlasts EXIT_GRACE_S)."""
    _held.append(True)
    try:
        yield
    finally:
        _held.pop()
    if requested:
        raise SystemExit(128 + requested[0])


def stop_with_one_line(prog: str, message: str) -> None:
    """Until something else takes the signals over: print ``PROG: SIGNAME: MESSAGE`` and leave with
    128 + signum through SystemExit (so ``finally`` blocks and atomic writers clean up)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        ignore_further()
        requested.append(signum)
        name = signal.Signals(signum).name
        with contextlib.suppress(OSError, ValueError):  # a closed stderr: the exit status still says it
            print(f"{prog}: {name}: {message}", file=sys.stderr, flush=True)
        # The raise lands wherever the main thread is; where that is a garbage-collection callback,
        # the interpreter swallows it. Then the process leaves anyway, a moment later.
        watchdog = threading.Timer(EXIT_GRACE_S, os._exit, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        if not _held:
            raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        quiet_unraisable(SystemExit)
        for sig in SIGNALS:
            signal.signal(sig, handler)
