"""A one-node SLURM cluster on this machine, for tests and for trying things (`make slurm`).

Debian's slurm-wlm, slurmdbd, munge and mariadb-server packages, run as root without systemd:
munged; a MariaDB server and slurmdbd for job accounting (sacct, which submitit reads a job's state
from, as on a real cluster); then `slurmctld -D` and `slurmd -D`, configured by a slurm.conf in a
directory of their own (proctrack/linuxproc and task/none, which need no cgroups). Every SLURM
command finds the cluster through SLURM_CONF.

    python -m tests.slurm_cluster start [DIR]   # prints the SLURM_CONF to export
    python -m tests.slurm_cluster stop [DIR]
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_DIR = Path("/tmp/harness-slurm")
PARTITION = "debug"
# Seconds between the SIGTERM that a cancel, a requeue or a time limit sends and the SIGKILL after it.
KILL_WAIT_S = 20


def missing() -> str:
    """Why no cluster can run here ("" when one can)."""
    for program in ("munged", "slurmctld", "slurmd", "slurmdbd", "sbatch", "mariadbd", "mariadb-install-db"):
        if shutil.which(program) is None:
            return f"{program} is not installed (make slurm installs Debian's SLURM, munge and MariaDB)"
    if os.geteuid() != 0:
        return "the local SLURM cluster runs its daemons as root"
    if not Path("/etc/munge/munge.key").exists():
        return "/etc/munge/munge.key is missing (Debian's munge package creates it)"
    return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(root: Path, dbd_port: int) -> str:
    host = socket.gethostname()
    cpus = os.cpu_count() or 1
    ctld, slurmd = _free_port(), _free_port()
    return f"""\
ClusterName=harness
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldPort={ctld}
SlurmdPort={slurmd}
ReturnToService=2
MpiDefault=none
JobRequeue=1
KillWait={KILL_WAIT_S}
InactiveLimit=0
MinJobAge=600
MessageTimeout=30
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={dbd_port}
JobAcctGatherType=jobacct_gather/none
NodeName={host} CPUs={cpus} RealMemory=4000 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def dbd_config(root: Path, dbd_port: int, mysql_port: int) -> str:
    return f"""\
AuthType=auth/munge
DbdHost=localhost
DbdPort={dbd_port}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={mysql_port}
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
LogFile={root}/slurmdbd.log
PidFile={root}/slurmdbd.pid
"""


def _wait(what: str, ready, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the local SLURM cluster's {what} did not come up within {timeout_s:.0f} s")
        time.sleep(0.25)


def _database(root: Path, port: int, timeout_s: float) -> None:
    """A MariaDB server of the cluster's own, with a user for slurmdbd."""
    data, sock = root / "mysql", root / "mysql.sock"
    subprocess.run(
        ["mariadb-install-db", "--user=root", f"--datadir={data}", "--auth-root-authentication-method=normal",
         "--skip-test-db"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.Popen(
        ["mariadbd", "--user=root", f"--datadir={data}", f"--socket={sock}", "--bind-address=127.0.0.1",
         f"--port={port}", f"--pid-file={root}/mysql.pid", f"--log-error={root}/mysql.err", "--skip-log-bin",
         "--innodb-buffer-pool-size=32M"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    _wait("database", sock.exists, timeout_s)
    grant = "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; GRANT ALL ON *.* TO 'slurm'@'127.0.0.1';"
    _wait(
        "database user",
        lambda: (
            subprocess.run(
                ["mariadb", "-S", str(sock), "-u", "root", "-e", grant], capture_output=True
            ).returncode
            == 0
        ),
        timeout_s,
    )


def start(root: Path = DEFAULT_DIR, timeout_s: float = 60.0) -> Path:
    """Start munged, slurmctld and slurmd under ``root``; the path of its slurm.conf once the node
    takes jobs."""
    why = missing()
    if why:
        raise RuntimeError(why)
    stop(root)
    shutil.rmtree(root, ignore_errors=True)
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(parents=True)
    dbd_port, mysql_port = _free_port(), _free_port()
    conf = root / "slurm.conf"
    conf.write_text(config(root, dbd_port))
    dbd_conf = root / "slurmdbd.conf"  # beside slurm.conf, where slurmdbd looks; private to its user
    dbd_conf.write_text(dbd_config(root, dbd_port, mysql_port))
    dbd_conf.chmod(0o600)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    # munged at its default socket: every SLURM client (sacct, sacctmgr) looks for it there.
    munge = root / "munge"
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    if subprocess.run(["munge", "-n"], capture_output=True).returncode != 0:  # none serves it yet
        subprocess.run(
            ["munged", "--force", f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log",
             f"--seed-file={munge}/munged.seed"],
            check=True, capture_output=True,
        )  # fmt: skip
    _database(root, mysql_port, timeout_s)

    def spawn(daemon: list[str]) -> None:
        log = (root / f"{daemon[0]}.out").open("w")
        subprocess.Popen(daemon, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    spawn(["slurmdbd", "-D"])
    _wait(
        "accounting daemon",
        lambda: (
            subprocess.run(
                ["sacctmgr", "-i", "add", "cluster", "harness"], env=env, capture_output=True
            ).returncode
            == 0
        ),
        timeout_s,
    )
    spawn(["slurmctld", "-D", "-c"])
    spawn(["slurmd", "-D"])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, check=False
        ).stdout.split()
        if out and all(state == "idle" for state in out):
            return conf
        time.sleep(0.5)
    logs = "; ".join(
        (root / f).read_text()[-500:] for f in ("slurmctld.out", "slurmd.out") if (root / f).exists()
    )
    stop(root)
    raise RuntimeError(f"the local SLURM cluster did not come up within {timeout_s:.0f} s: {logs}")


def stop(root: Path = DEFAULT_DIR) -> None:
    """Stop the cluster's daemons (their pid files say which): SIGTERM to all, SIGKILL to any still
    there after 5 s."""
    pids = []
    for name in ("slurmd.pid", "slurmctld.pid", "slurmdbd.pid", "mysql.pid", "munge/munged.pid"):
        try:
            pids.append(int((root / name).read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if _alive(pid)]
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("start", "stop"):
        sys.exit(__doc__)
    root = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_DIR
    if sys.argv[1] == "start":
        try:
            conf = start(root)
        except RuntimeError as exc:
            sys.exit(f"slurm_cluster: {exc}")
        print(f"export SLURM_CONF={conf}   # sinfo, sbatch and the harness's SLURM sweeps then use it")
    else:
        stop(root)


if __name__ == "__main__":
    main()
