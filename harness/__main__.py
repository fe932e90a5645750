"""The `harness` command: compose the configuration with Hydra, validate it, run one study.

harness                                   # the default study (digits, SimpleCNN, bayes)
harness model=dense_poly strategy=random study.rounds=16
harness -m strategy=grid,random,bayes study.seed=0,1     # a multirun sweep
"""

from __future__ import annotations

from harness import signals
from harness.signals import stop_with_one_line

# Before the heavy imports: a signal while the command starts gives one line, not a traceback.
STARTING = (
    "stopped before any round ran in this process; every round recorded before is kept: "
    "run the same command to start or resume"
)
stop_with_one_line("harness", STARTING)

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from harness.config import ParamRange, conf_dir, explain, from_container, group_settings, register_configs
from harness.config.options import SCHEMAS
from harness.errors import HarnessError, Interrupted

HELP = """harness: one energy-metered hyperparameter-search study (a Hydra app).

usage: harness [GROUP=OPTION ...] [KEY=VALUE ...]     one study; the same command resumes it
       harness -m [GROUP=A,B ...] [KEY=V1,V2 ...]     a multirun sweep, one study per job
       harness --cfg job [overrides]                  print the composed configuration
       harness --hydra-help                           Hydra's own flags

== Configuration groups ==
Compose your configuration from those groups (group=option)

{groups}

== Config ==
Override anything in the config (foo.bar=value). Each option has its own settings:
`harness --help strategy=bayes_pi meter=rapl` shows those of the options you name.

{config}
harness is powered by Hydra: https://hydra.cc (harness --hydra-help for its flags)."""


CONF_DIR = str(conf_dir())
GROUPS = ("dataset", "model", "strategy", "space", "meter", "study", "experiment")


def study_name_of(root: DictConfig) -> str:
    """The study's name from the composed configuration: Hydra's run and sweep directories use it,
    so a run directory belongs to one study (``${harness_study:}`` in conf/config.yaml)."""
    tree = {g: OmegaConf.to_container(root[g], resolve=True) for g in GROUPS[:-1] if g in root}
    try:
        return from_container(tree).study_name
    except HarnessError:  # invalid: the job itself reports it in one line; any directory will do
        return "-".join(str(root[g].get("name", g)) for g in ("dataset", "model", "strategy", "space"))


register_configs()
if not OmegaConf.has_resolver("harness_study"):
    OmegaConf.register_new_resolver("harness_study", lambda *, _root_: study_name_of(_root_))


def fail(message: str) -> None:
    print(f"harness: error: {message}", file=sys.stderr)
    sys.exit(2)


# Hydra's flags that take a value: --cfg job, --package db, --config-name ...
FLAGS_WITH_VALUE: tuple[str, ...] = (
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-name",
    "-cn",
    "--config-path",
    "-cp",
)
FLAGS_WITH_VALUE += ("--config-dir", "-cd", "--experimental-rerun", "--shell-completion", "-sc")


def overrides_of(args: list[str]) -> list[str]:
    """The command line's overrides (``key=value``, ``group=option``), without Hydra's flags."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in FLAGS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def check_group_choices(argv: list[str]) -> None:
    """Reject an unknown option of a config group before Hydra (which would exit 1 with a trace hint)."""
    for arg in argv:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+")
        if not sep or key not in GROUPS:
            continue
        options = group_options(key)
        for choice in value.split(","):
            if choice and choice != "null" and choice not in options:
                fail(f"{key}={choice} is not an option of {key}; choose one of: {', '.join(options)}")


def hydra_keys(path: list[str]) -> list[str] | None:
    """The settings Hydra's own configuration has under ``hydra.<path>``; None where it is free-form
    (a launcher's or sweeper's own settings, ``job.env_set``, ``sweeper.params``)."""
    import typing

    from hydra.conf import HydraConf

    node: Any = HydraConf
    for part in path:
        fields = {f.name: f for f in dataclasses.fields(node)}
        if part not in fields:
            return None
        kind = typing.get_type_hints(node).get(part)
        if not dataclasses.is_dataclass(kind):
            return None
        node = kind
    return [f.name for f in dataclasses.fields(node)]


def check_keys(argv: list[str]) -> None:
    """Reject a misspelt setting (``study.epoch=3``, ``+study.roundz=3``, ``hydra.run.dirr=x``) in one
    line, with the nearest real name, before Hydra (which would exit 1 with a trace hint). A ``+key``
    may add a new hyperparameter (``+space.params.width``), nothing else; a setting that only another
    option of its group has is told once the options are composed."""
    import difflib

    settings = group_settings()
    range_fields = [f.name for f in dataclasses.fields(ParamRange)]
    for arg in argv:
        key, sep, _ = arg.partition("=")
        if not sep and not key.startswith("~"):
            fail(
                f"{arg!r} is not a setting: each is KEY=VALUE, and a value with spaces is quoted whole "
                f"(as 'dataset.root=/my data'); `harness --help` lists every setting"
            )
        key = key.lstrip("+")
        if not sep or key.startswith("~") or "/" in key or key in GROUPS:
            continue
        parts = key.split(".")
        # The names each level may take; None: free-form, or a hyperparameter's (checked with the
        # composed space, or new with a leading +).
        levels: list[list[str] | None]
        if parts[0] == "hydra":
            levels = [None, *(hydra_keys(parts[1:depth]) for depth in range(1, len(parts)))]
        else:
            levels = [list(settings), settings.get(parts[0], [])]
        if parts[:2] == ["space", "params"]:
            levels += [None, range_fields]
        for depth, part in enumerate(parts[: len(levels)]):
            known = levels[depth]
            if known is None or part in known:
                continue
            where = ".".join(parts[:depth]) or "the configuration"
            near = difflib.get_close_matches(part, known, n=1)
            hint = f"did you mean {'.'.join([*parts[:depth], near[0]])}? " if near else ""
            fail(f"{key}: {where} has no setting {part!r}; {hint}`harness --help` lists every setting")


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line: our own errors say it; for a full disk, an unwritable directory
    or a storage error, the library's first line and what to do."""
    if isinstance(exc, HarnessError):
        return str(exc)
    if type(exc).__name__ == "StorageInternalError" and exc.__cause__ is not None:
        exc = exc.__cause__  # Optuna wraps the database's own error: that one says what is wrong
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        first = f"{where}{exc.strerror}"
    return (
        f"{first} ({type(exc).__name__}); every round recorded before it is kept in the storage: "
        f"free space or make the directory writable, and run the same command to resume"
    )


def stopped(exc: Interrupted) -> NoReturn:
    """Leave with a stopped study's one line and status. A signal while the command started has said
    its line already (harness.signals); where its exit was swallowed, the study stopped before a round
    and says nothing more."""
    if not signals.requested:
        print(f"harness: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def app(cfg: DictConfig) -> float | None:
    from hydra.types import RunMode
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import SQLAlchemyError

    with signals.held_while_importing():  # torch
        from harness import study, sweep
    from harness.joblog import to_job_log

    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    sweep.clear_failed(job_dir)
    with to_job_log():  # what the job prints also goes to <job dir>/<job name>.log
        try:
            config = from_container(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
            result = study.run(config, job_dir)
        except Interrupted as exc:
            stopped(exc)
        except (HarnessError, OSError, SQLAlchemyError, StorageInternalError) as exc:
            if not multirun:
                fail(one_line(exc))
            _job_failed(job_dir, one_line(exc))
            return None
        except Exception as exc:
            if not multirun:
                raise  # a defect of the harness: its traceback is what a report needs
            _job_failed(job_dir, f"{type(exc).__name__}: {str(exc).strip()}")
            return None
    return result.best_accuracy


def _job_failed(job_dir: Path, reason: str) -> None:
    """In a sweep, a failing job is reported and the sweep goes on with the next job."""
    from harness import sweep

    print(f"harness: error: job {job_dir.name}: {reason}; the sweep goes on", file=sys.stderr)
    with contextlib.suppress(OSError):  # a full disk may not take the marker either: the line above stays
        sweep.mark_failed(job_dir, reason)


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in Path(CONF_DIR, group).glob("*.yaml"))


def print_help(overrides: list[str]) -> None:
    """What Hydra's --help shows, without its listing of every group through the ConfigStore.

    That listing deep-copies the whole store once per group and option (about 1.3 s of a 1.6 s
    --help); the options are simply the YAML files of each group's folder.
    """
    from hydra import compose, initialize_config_dir

    groups = "\n".join(f"{g}: {', '.join(group_options(g))}" for g in GROUPS)
    try:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
    except Exception as exc:  # Hydra's override and composition errors: one line, exit 2
        fail(f"{' '.join(overrides)}: {str(exc).splitlines()[0]}")
    print(HELP.format(groups=groups, config=annotated_yaml(cfg)))


def annotated_yaml(cfg: DictConfig) -> str:
    """The composed configuration as YAML, each setting followed by what it means (the comment
    beside its field in the schema: harness.config.base.field_docs)."""
    from harness.config import ParamRange, SpaceConfig, StudySettings
    from harness.config.base import field_docs
    from harness.config.options import schema

    docs: dict[str, dict[str, str]] = {"study": field_docs(StudySettings), "space": field_docs(SpaceConfig)}
    for group in SCHEMAS:
        with contextlib.suppress(Exception):  # an option without a schema: its YAML alone
            docs[group] = field_docs(schema(group, str(cfg[group].name)))
    ranges = field_docs(ParamRange)
    out, group = [], ""
    for line in OmegaConf.to_yaml(cfg).splitlines():
        indent = len(line) - len(line.lstrip(" "))
        key = line.strip().partition(":")[0]
        if indent == 0:
            group = key
        text = docs.get(group, {}).get(key) if indent == 2 else ranges.get(key) if indent == 6 else None
        out.append(f"{line}  # {text}" if text else line)
    return "\n".join(out) + "\n"


def sweep_jobs(args: list[str]) -> list[list[str]]:
    """Every job of a multirun as its list of overrides, as Hydra's basic sweeper will launch them:
    each key's value, or one value of each sweep (those of ``hydra.sweeper.params`` in the
    configuration, then the command line's; the last one given for a key winning).
    A single run is one job. Called where Hydra is initialised (``initialize_config_dir``)."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    given = parser.parse_overrides(overrides_of(args))
    fixed = [str(o.input_line) for o in given if not o.is_sweep_override()]
    # Only Hydra's own settings and the group choices (an experiment's sweep) are read from it: a
    # setting of one option would not compose onto the default option of its group.
    shaping = [o for o in fixed if "." not in o.partition("=")[0] or o.lstrip("+~").startswith("hydra.")]
    base = compose(config_name="config", overrides=shaping, return_hydra_config=True)
    multirun = "-m" in args or "--multirun" in args or str(base.hydra.mode) == "RunMode.MULTIRUN"
    if not multirun:
        return [fixed]
    # As Hydra's basic sweeper splits them: one entry per key, in the order keys first appear, the
    # last value given for a key winning (`study.seed=range(0,200) ... study.seed=0` is one job).
    configured = base.hydra.sweeper.get("params") or {}
    values: dict[str, list[str]] = {}
    for override in [*parser.parse_overrides([f"{k}={v}" for k, v in configured.items()]), *given]:
        key = override.get_key_element()
        if override.is_sweep_override():
            values[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            values[key] = [str(override.input_line)]
    return [list(combo) for combo in itertools.product(*values.values())]


def composition_error(exc: Exception, job: list[str]) -> str:
    """One line for Hydra's failure to compose a job: for a setting of the wrong type, or one the
    chosen option does not have, OmegaConf's error about it, explained (harness.config.explain)."""
    from hydra import compose
    from omegaconf.errors import OmegaConfBaseException

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__ or cause.__context__
    missing = re.search(r"Could not load '(\w+)/base_(\w+)'", str(exc))
    if missing:  # an option file whose schema no class provides
        group, option = missing.groups()
        return (
            f"{group}={option} has no schema: a new option of {group} needs a class in "
            f"harness/config/{group}.py that names it in its OPTIONS"
        )
    if cause is None:
        return str(exc).strip().splitlines()[0]
    group = str(getattr(cause, "full_key", "") or "").partition(".")[0]
    chosen = {}
    given = [o.partition("=")[2] for o in job if o.partition("=")[0] == group]
    if group in SCHEMAS and given:
        chosen[group] = given[-1]
    elif group in SCHEMAS:  # the option the job chose: compose it without its settings of that group
        others = [o for o in job if not o.lstrip("+~").startswith(f"{group}.")]
        with contextlib.suppress(Exception):
            chosen[group] = str(compose(config_name="config", overrides=others)[group].name)
    # Where a config file set it (an experiment preset), Hydra's first line says which.
    origin = re.match(r"In '([^']+)'", str(exc))
    where = f"{origin.group(1)}.yaml: " if origin else ""
    return where + explain(cause, chosen=chosen)


def check_output_dir(job: list[str], *, multirun: bool) -> None:
    """Refuse, in one line, a run (or sweep) directory that cannot be created: on a read-only file
    system, or under a directory this user may not write (Hydra would exit 1 with a traceback)."""
    from hydra import compose

    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    try:
        cfg = compose(config_name="config", overrides=job, return_hydra_config=True)
        where = Path(str(OmegaConf.select(cfg, key)))
    except Exception:  # a resolver only Hydra's run sets (${hydra:...}): Hydra will say it
        return
    existing = where if where.is_absolute() else Path.cwd() / where
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "is not a directory" if not existing.is_dir() else "is not writable (a read-only file system?)"
        fail(
            f"{key}={where}: {existing} {why}; give {key}=<a writable directory> "
            f"(or run from a writable working directory)"
        )


def check_launcher(job: list[str]) -> None:
    """A SLURM sweep's partition is checked against the cluster before anything is submitted."""
    from hydra import compose

    cfg = compose(config_name="config", overrides=job, return_hydra_config=True)
    if (
        str(OmegaConf.select(cfg, "hydra.launcher._target_", default=""))
        == "hydra_plugins.harness_slurm.slurm_launcher.SlurmLauncher"
    ):
        from harness.slurm import check_partition

        try:
            check_partition(OmegaConf.select(cfg, "hydra.launcher.partition"))
        except HarnessError as exc:
            fail(str(exc))


def validate_jobs(args: list[str], *, values: bool = True) -> None:
    """Compose every job (and with ``values``, validate it) before the first one trains: an invalid
    job stops the run or the sweep with one line naming it, exit status 2, and no study created."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        try:
            jobs = sweep_jobs(args)
        except Exception as exc:  # the override grammar, or composing the fixed settings
            fixed = [a for a in overrides_of(args) if "," not in a]
            fail(composition_error(exc, fixed))
        storages = set()
        datasets: dict[str, Any] = {}  # each distinct data set of the jobs, once
        for job in jobs:
            where = f"sweep job {' '.join(job)}: " if len(jobs) > 1 else ""
            after = "; no job was run" if len(jobs) > 1 else ""
            try:
                cfg = compose(config_name="config", overrides=job)
            except Exception as exc:
                fail(f"{where}{composition_error(exc, job)}{after}")
            if not values:
                continue
            try:
                config = from_container(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
            except HarnessError as exc:
                fail(f"{where}{exc}{after}")
            storages.add(config.study.storage)
            datasets.setdefault(
                json.dumps(dataclasses.asdict(config.dataset), sort_keys=True, default=str), config
            )
        if values:
            check_output_dir(jobs[0], multirun=len(jobs) > 1 or "-m" in args or "--multirun" in args)
            if any("launcher" in a for a in args):  # composing Hydra's own settings costs start-up time
                check_launcher(jobs[0])
    # Every data set's files, once, before any job runs: a sweep over data that is not there stops
    # here in one line instead of failing each of its jobs (a replayed study reads no data).
    for config in datasets.values():
        if config.study.backend == "replay":
            continue
        try:
            config.dataset.fetch(progress=config.study.progress)
        except HarnessError as exc:
            after = "; no job was run" if len(jobs) > 1 else ""
            fail(f"{exc}{after}")
    if len(jobs) < 2:
        return  # a single study opens its storage where it runs
    # Each storage is created here, once: parallel jobs (hydra/launcher=joblib) that all find a new
    # database would otherwise race to create its tables.
    from harness.storage import close_storage, open_storage

    for url in sorted(storages):
        try:
            close_storage(open_storage(url))
        except HarnessError as exc:
            fail(f"{exc}; no job was run")


def main() -> None:
    args = sys.argv[1:]
    check_group_choices(args)
    check_keys(overrides_of(args))
    if "--help" in args or "-h" in args:
        print_help(overrides_of(args))
        return
    if not any(a in args for a in ("--info", "--hydra-help", "--shell-completion")):
        # Hydra would report a setting of the wrong type, or of an option not chosen, with exit 1.
        validate_jobs(args, values=not any(a in args for a in ("--cfg", "-c")))
    app()
    from harness import sweep

    status = 1 if sweep.failed_jobs else 0
    if signals.requested:  # a stop signal whose exit was swallowed before anything could act on it
        status = 128 + signals.requested[0]
    if not any(a.startswith("hydra/launcher=") for a in args):  # worker pools clean up at exit
        exit_now(status)
    sys.exit(status)


def exit_now(status: int = 0) -> None:
    """Leave without the interpreter's teardown of torch and Optuna (about 1 s here).

    Everything a study writes is on disk by now (trials.csv is flushed per round, the storage has
    committed, study.json is closed); only logging and the standard streams need flushing.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
