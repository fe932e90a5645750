"""Which part may import which (the design notes beside the project, ../shared/DESIGN.md, and the map in
harness/__init__.py): arrows point down, nothing points up."""

from __future__ import annotations

import ast

import optuna
import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "harness"
# part -> the other parts it may import (errors and signals are shared leaves every part may use)
ALLOWED = {
    "errors": set(),
    "signals": set(),
    "models": set(),
    "atomic": set(),
    "records": {"atomic"},
    "data": set(),
    "energy": set(),
    "search": set(),
    # Each option of a group builds its object: a sampler, a meter, a data set, a network.
    "config": {"search", "energy", "data", "models"},
    "train": {"models", "data"},
    "machine": {"energy"},
    "report": {"records", "atomic"},
    "workers": {"records", "energy"},
    "storage": set(),
    "sweep": set(),
    "joblog": set(),
    "slurm": set(),  # the SLURM launcher's checks (the launcher itself: hydra_plugins/harness_slurm/)
    # The round seam: a round trained live (rounds) or looked up in a table (replay).
    "rounds": {"config", "energy", "search", "train"},
    "replay": {"config", "energy", "search", "train", "rounds"},
    "study": {
        "rounds",
        "replay",
        "config",
        "search",
        "train",
        "energy",
        "data",
        "models",
        "records",
        "machine",
        "storage",
        "workers",
        "atomic",
    },
    "__main__": {"config", "study", "storage", "sweep", "joblog", "slurm"},
    # harness-table, an entry point like __main__: a table build is a study, exported from storage.
    "table": {"atomic", "config", "records", "rounds", "replay", "storage", "study", "workers"},
}


def part_of(path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_parts(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith("harness."):
                found.add(name.split(".")[1])
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layers(path):
    part = part_of(path)
    if part == "__init__":
        return
    others = imported_parts(path) - {part, "errors", "signals"}
    assert others <= ALLOWED[part], f"{part} imports {sorted(others - ALLOWED[part])}"


# Where the storage's own methods may be called: the worker protocol, for what Optuna's public API lacks.
STORAGE_HOME = PACKAGE / "workers.py"
PRIVATE = ("_storage", "_trial_id", "_get_trials", "_study_id", "_thread_local")
MISSING = "Optuna has no public"  # how the comment beside each such call begins


def internal_storage_methods() -> set[str]:
    """The storage methods Optuna documents as not for library users (BaseStorage's and its heartbeat's)
    that Study, Trial and FrozenTrial do not offer under the same name, and ``get_storage``, which its
    docstring calls internal-only."""
    from optuna.storages import BaseStorage
    from optuna.storages._heartbeat import BaseHeartbeat

    methods = {n for cls in (BaseStorage, BaseHeartbeat) for n in dir(cls) if not n.startswith("_")}
    public = {n for cls in (optuna.Study, optuna.trial.Trial, optuna.trial.FrozenTrial) for n in dir(cls)}
    return (methods - public) | {"get_storage"}


def optuna_internals(source: str, *, home: bool) -> list[str]:
    """Uses of Optuna's internals in ``source``: private members of a study or trial anywhere; the
    storage's internal methods outside ``home``, and in it any such call without a comment (on its
    line or the line above) naming the public API that is missing."""
    internal = internal_storage_methods()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        if (
            node.attr in PRIVATE
            and isinstance(node.value, ast.Name)
            and node.value.id in ("study", "trial", "frozen", "t")
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        elif node.attr in internal:
            said = any(MISSING in lines[i] for i in (node.lineno - 1, node.lineno - 2) if i >= 0)
            if not home or not said:
                found.append(
                    f"line {node.lineno}: .{node.attr}" + ("" if not home else " without its comment")
                )
    return sorted(found, key=lambda f: int(f.split(":")[0].removeprefix("line ")))


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_public_optuna_api(path):
    """Optuna's private members (study._storage, trial._trial_id, study._get_trials) and its storage's
    methods change without notice between releases: the storage is reached through Study and Trial,
    and what they cannot do lives in one module, each call saying which public API is missing."""
    assert not optuna_internals(path.read_text(), home=path == STORAGE_HOME)


def test_the_public_api_guard_catches_internal_storage_calls():
    assert len(internal_storage_methods()) > 20  # the guard knows the storage's methods by name
    outside = (
        "def f(storage, study):\n    storage.set_trial_user_attr(1, 'k', 2)\n    return study._storage\n"
    )
    assert optuna_internals(outside, home=False) == [
        "line 2: .set_trial_user_attr",
        "line 3: study._storage",
    ]
    import_name = "import optuna\ns = optuna.storages.get_storage('sqlite:///x.db')\n"
    assert optuna_internals(import_name, home=False) == ["line 2: .get_storage"]
    # In the worker protocol each call says what is missing, or the guard names it.
    bare = "storage.record_heartbeat(1)\n"
    assert optuna_internals(bare, home=True) == ["line 1: .record_heartbeat without its comment"]
    said = "# Optuna has no public heartbeat outside Study.optimize.\nstorage.record_heartbeat(1)\n"
    assert optuna_internals(said, home=True) == []
    # Study's and Trial's own methods are the public API, whatever they are called on.
    assert optuna_internals("study.tell(3, state=None)\ntrial.set_user_attr('k', 1)\n", home=False) == []
