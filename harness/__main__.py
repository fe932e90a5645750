"""The `harness` command: compose the configuration with Hydra, validate it, run one study.

harness                                   # the default study (digits, SimpleCNN, bayes)
harness model=dense_poly strategy=random study.rounds=16
harness -m strategy=grid,random,bayes study.seed=0,1     # a multirun sweep
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from harness.config import conf_dir, from_container, register_configs
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
Override anything in the config (foo.bar=value)

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


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def app(cfg: DictConfig) -> float | None:
    from harness import study

    try:
        config = from_container(OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
        result = study.run(config, Path(HydraConfig.get().runtime.output_dir))
    except HarnessError as exc:
        fail(str(exc))
        return None
    except Interrupted as exc:
        print(f"harness: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    return result.best_accuracy


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
    print(HELP.format(groups=groups, config=OmegaConf.to_yaml(cfg)))


def main() -> None:
    args = sys.argv[1:]
    check_group_choices(args)
    if "--help" in args or "-h" in args:
        print_help([a for a in args if a not in ("--help", "-h") and not a.startswith("-")])
        return
    app()
    if not any(a.startswith("hydra/launcher=") for a in args):  # worker pools clean up at exit
        exit_now()


def exit_now() -> None:
    """Leave without the interpreter's teardown of torch and Optuna (about 1 s here).

    Everything a study writes is on disk by now (trials.csv is flushed per round, the storage has
    committed, study.json is closed); only logging and the standard streams need flushing.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
