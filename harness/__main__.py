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
        options = sorted(p.stem for p in Path(CONF_DIR, key).glob("*.yaml"))
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


def main() -> None:
    check_group_choices(sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
