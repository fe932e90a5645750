"""Which harness jobs are metering on this machine right now.

Hardware counters (RAPL, NVML) measure the whole device, so two jobs running at once each see the
other's energy. Every running study registers its process id in a shared directory; a round during
which another live job was registered is marked as sharing the machine's counters.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType

# Shared by every harness process on the machine; the variable HARNESS_JOBS_DIR moves it.
DEFAULT_DIR = Path(tempfile.gettempdir()) / "harness-active-jobs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class ActiveJobs:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or Path(os.environ.get("HARNESS_JOBS_DIR", DEFAULT_DIR))
        self.mine = self.directory / str(os.getpid())

    def __enter__(self) -> ActiveJobs:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.mine.touch()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.mine.unlink(missing_ok=True)

    def others(self) -> int:
        """Live jobs other than this one; entries of dead processes are removed."""
        count = 0
        for entry in self.directory.glob("*"):
            if entry == self.mine or not entry.name.isdigit():
                continue
            if _alive(int(entry.name)):
                count += 1
            else:
                entry.unlink(missing_ok=True)
        return count
