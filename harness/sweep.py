"""A multirun whose job fails while running goes on with the next job, and says at the end which
jobs failed (the sweep then exits with status 1).

A job that fails leaves a one-line ``FAILED`` file in its own directory, because with a launcher such as
joblib the job runs in another process; ``FailedJobs``, a Hydra callback (conf/config.yaml), collects
those files in the launching process once every job has returned.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

FAILED_FILE = "FAILED"
failed_jobs: list[str] = []  # "<job directory>: <reason>" for this process's last multirun
# Jobs whose end only the launcher saw (a SLURM job stopped or killed before it could say so).
failed_elsewhere: list[str] = []


def mark_failed(job_dir: Path, reason: str) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / FAILED_FILE).write_text(reason + "\n")


def clear_failed(job_dir: Path) -> None:
    (job_dir / FAILED_FILE).unlink(missing_ok=True)


class FailedJobs(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        failed_jobs.clear()
        failed_elsewhere.clear()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        for marker in sorted(sweep_dir.rglob(FAILED_FILE)):
            reason = marker.read_text().strip()
            failed_jobs.append(f"{marker.parent}: {reason}")
        failed_jobs.extend(failed_elsewhere)
        if failed_jobs:
            print(f"harness: {len(failed_jobs)} job(s) of the sweep failed:", file=sys.stderr)
            for line in failed_jobs:
                print(f"  {line}", file=sys.stderr)
            print(
                "harness: fix their cause and run the same command again: finished studies are kept",
                file=sys.stderr,
            )
