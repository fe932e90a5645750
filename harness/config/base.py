"""What every option of a config group is: a typed dataclass that Hydra composes onto, which checks
its own values, contributes its part of the study's fingerprint and builds its object."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from harness.errors import ConfigError


@dataclasses.dataclass
class Option:
    """One option of a group (``strategy=bayes_pi``): ``name`` is the option, the other fields are its
    settings, each with the default its YAML file starts from.

    Not frozen: Hydra merges overrides into the structured node, which OmegaConf makes read-only for a
    frozen dataclass. Components take the object and do not change it.
    """

    name: str

    # The options (YAML files of the group) that this class is the schema of.
    OPTIONS: ClassVar[tuple[str, ...]] = ()
    # Settings every option of the group recorded in its fingerprint before options had their own
    # classes, with the value they always had where an option does not use them: a fingerprint keeps
    # them, so that every recorded study keeps its fingerprint and resumes.
    RECORDED: ClassVar[dict[str, Any]] = {}
    # Settings that change where or how an object is built, not what a round computes.
    NOT_FINGERPRINTED: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.OPTIONS and self.name not in self.OPTIONS:
            raise ConfigError(
                f"{type(self).__name__} is the schema of {'/'.join(self.OPTIONS)}, not of {self.name!r}"
            )

    def fingerprint(self) -> dict[str, Any]:
        own = {k: v for k, v in dataclasses.asdict(self).items() if k not in self.NOT_FINGERPRINTED}
        return {**self.RECORDED, **own}

    def check(self) -> None:
        """Raise ConfigError, in one line naming the setting, for a value out of range."""


def at_least(value: float | None, low: float, where: str) -> None:
    if value is not None and value < low:
        raise ConfigError(f"{where}={value} must be at least {low:g}")


def choice(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}={value!r} is unknown; choose one of: {', '.join(allowed)}")
