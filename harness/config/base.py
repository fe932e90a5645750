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


def import_target(path: str, where: str) -> Any:
    """The object ``package.module.Name`` names (a custom option's ``_target_``), importable from the
    working directory too, as ``python -m`` allows; a ConfigError in one line otherwise."""
    import importlib
    import os
    import sys

    if not path or "." not in path:
        raise ConfigError(
            f"{where}={path!r}: give the dotted path of a callable, as {where}=my_package.module.Name"
        )
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    module_name, _, attribute = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the user's module failing as it imports
        raise ConfigError(
            f"{where}={path}: cannot import {module_name} ({type(exc).__name__}: {exc}); install your "
            f"package (pip install -e .) or run from the directory that holds it"
        ) from None
    target = getattr(module, attribute, None)
    if not callable(target):
        raise ConfigError(f"{where}={path}: {module_name} has no callable {attribute!r}")
    return target


def field_docs(cls: type) -> dict[str, str]:
    """What each setting of a schema class means, from the comment beside its field (or the comment
    lines right above it) in the class's source: the one place a setting is explained."""
    import inspect
    import io
    import tokenize

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        above: list[str] = []
        pending: str | None = None  # a field whose line has been read, waiting for its comment
        line_start = True
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                text = tok.string.lstrip("#").strip()
                if pending is not None:
                    docs[pending] = text  # beside the field: about it alone
                    pending = None
                elif line_start:
                    above.append(text)
            elif tok.type == tokenize.NAME and line_start and tok.start[1] == 4:
                line_start = False
                if above:  # the block above: where no comment is beside the field
                    docs[tok.string] = " ".join(above)
                pending, above = tok.string, []
            elif tok.type in (tokenize.NEWLINE, tokenize.NL):
                if tok.type == tokenize.NEWLINE:
                    pending = None
                line_start = True
            elif tok.type not in (tokenize.INDENT, tokenize.DEDENT):
                line_start = False
    fields = {f.name for f in dataclasses.fields(cls)}
    return {name: text for name, text in docs.items() if name in fields}
