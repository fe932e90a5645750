"""Which part may import which (the design notes beside the project, ../shared/DESIGN.md, and the map in
harness/__init__.py): arrows point down, nothing points up."""

from __future__ import annotations

import ast

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
    "storage": {"workers"},
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


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_public_optuna_api(path):
    """Optuna's private members (study._storage, trial._trial_id, study._get_trials) change without
    notice between releases; the storage's public methods say the same."""
    private = [
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr in ("_storage", "_trial_id", "_get_trials", "_study_id", "_thread_local")
        and isinstance(node.value, ast.Name)
        and node.value.id in ("study", "trial", "frozen", "t")
    ]
    assert not private, private
