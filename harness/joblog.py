"""What a job prints also goes to Hydra's job log (``<job dir>/<job name>.log``).

The harness speaks to its user on stdout and stderr. Hydra's job logging writes only what goes
through Python's logging, so its log file stayed empty. While a job runs, each complete line
written to either stream is also handed to the file handlers Hydra set up (never to its console
handler: the line is on the terminal already). A progress bar's carriage-return redraws leave only
their last state.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

LOGGER = "harness"


class _Tee:
    """A standard stream that also logs each complete line it is given."""

    def __init__(self, stream: TextIO, handlers: Sequence[logging.Handler], level: int) -> None:
        self._stream, self._handlers, self._level = stream, handlers, level
        self._pending = ""

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            shown = line.rsplit("\r", 1)[-1].rstrip()
            if shown:
                record = logging.LogRecord(LOGGER, self._level, __file__, 0, shown, None, None)
                for handler in self._handlers:
                    handler.handle(record)
        return written

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:  # fileno, encoding, ...: the real stream's
        return getattr(self._stream, name)


@contextlib.contextmanager
def to_job_log() -> Iterator[None]:
    """Copy stdout (INFO) and stderr (WARNING) lines into the root logger's file handlers."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    if not handlers:  # hydra/job_logging=disabled, or no Hydra: nothing to copy to
        yield
        return
    out, err = sys.stdout, sys.stderr
    sys.stdout = _Tee(out, handlers, logging.INFO)
    sys.stderr = _Tee(err, handlers, logging.WARNING)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
