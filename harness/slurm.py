"""Sweeps on a SLURM cluster: Hydra's submitit launcher, with what clusters do reported in one line.

``hydra/launcher=slurm`` (conf/hydra/launcher/slurm.yaml) selects the launcher, which Hydra finds among
its plugins (hydra_plugins/harness_slurm/); this module holds what it and the command line's up-front
checks use. The launcher submits the sweep's jobs as one job array, as Hydra's submitit_slurm does, and
waits for them all. Where that launcher stops at the first job that did not finish (a job stopped by
SIGTERM, cancelled, killed at its time limit or by the node) with a traceback, this one waits for every
job, and names each job that did not finish in one line: its study's last words and its log. The sweep
then ends with the harness's list of failed jobs and exit 1; finished studies are kept, and running the
same command resumes the others. A job that is requeued (``scontrol requeue``, preemption, submitit at a
time limit) is waited for until its last run ends.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def partitions() -> list[str]:
    """The cluster's partitions (sinfo), or [] where SLURM cannot be asked."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted(set(out.stdout.split())) if out.returncode == 0 else []


def check_partition(partition: str | None) -> None:
    """A partition the cluster does not have is refused before anything is submitted."""
    if partition is None:
        return
    known = partitions()
    if known and partition not in known:
        raise HarnessError(
            f"hydra.launcher.partition={partition}: this cluster has no such partition (sinfo lists: "
            f"{', '.join(known)}); choose one of them, and nothing was submitted"
        )


def last_words(job: Any) -> str:
    """The job's last line on stderr: the harness's own one-line reason, or SLURM's."""
    try:
        text = Path(job.paths.stderr).read_text(errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("harness:")]
    return (ours or lines or [""])[-1]
