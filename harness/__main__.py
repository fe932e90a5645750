"""The `harness` command: compose the configuration with Hydra, validate it, run one study.

harness                                   # the default study (digits, SimpleCNN, bayes)
harness model=dense_poly strategy=random study.rounds=16
harness -m strategy=grid,random,bayes study.seed=0,1     # a multirun sweep
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from harness.config import from_container, register_configs
from harness.errors import HarnessError

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


def _conf_dir() -> str:
    packaged = Path(__file__).parent / "conf"  # inside an installed wheel
    return str(packaged if packaged.is_dir() else Path(__file__).parent.parent / "conf")


CONF_DIR = _conf_dir()
register_configs()
GROUPS = ("dataset", "model", "strategy", "space", "meter", "study", "experiment")


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


if __name__ == "__main__":
    main()
