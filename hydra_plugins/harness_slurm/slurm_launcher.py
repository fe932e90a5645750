"""The harness's SLURM launcher (``hydra/launcher=slurm``), where Hydra looks for launchers.

Hydra's submitit_slurm launcher, waiting for every job of the array and naming each one that did
not finish (stopped, cancelled, killed at its time limit) in one line with the sweep's failed jobs,
instead of a traceback at the first: harness/slurm.py says more.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import OmegaConf

from harness import sweep
from harness.errors import HarnessError
from harness.slurm import check_partition, last_words

log = logging.getLogger(__name__)


class SlurmLauncher(SubmititSlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """The submitit_slurm launcher's submission (its own code, which Hydra does not split into
        parts), then a wait on every job that reports the ones that did not finish."""
        import submitit

        assert self.config is not None
        check_partition(self.params.get("partition"))
        params = self.params
        init_keys = {"max_num_timeout", "submitit_folder"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=params["submitit_folder"],
            **{f"{self._EXECUTOR}_max_num_timeout": params["max_num_timeout"]},
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                k if k in base else f"{self._EXECUTOR}_{k}": v
                for k, v in params.items()
                if k not in init_keys
            }
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        job_params: list[Any] = []
        for number, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            job_params.append(
                (list(overrides), "hydra.sweep.dir", number, f"job_id_for_{number}", Singleton.get_state())
            )
        try:
            jobs = executor.map_array(self, *zip(*job_params, strict=True))
        except (subprocess.CalledProcessError, submitit.core.utils.FailedJobError) as exc:
            detail = getattr(exc, "stderr", b"") or str(exc)
            detail = detail.decode(errors="replace") if isinstance(detail, bytes) else detail
            raise HarnessError(f"sbatch refused the sweep: {detail.strip().splitlines()[-1]}") from None
        return [self._outcome(job, overrides) for job, overrides in zip(jobs, job_overrides, strict=True)]

    @staticmethod
    def _outcome(job: Any, overrides: Sequence[str]) -> JobReturn:
        import submitit

        try:
            return job.results()[0]
        except (submitit.core.utils.UncompletedJobError, submitit.core.utils.FailedJobError):
            said = last_words(job)
            reason = f"SLURM job {job.job_id} did not finish ({job.state})" + (f": {said}" if said else "")
            reason += f"; its log: {job.paths.stderr}"
            sweep.failed_elsewhere.append(reason)  # listed with the sweep's failed jobs at its end
            done = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            done.return_value = None
            return done
