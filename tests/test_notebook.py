"""The notebook runs headless on a tiny study and is stored without outputs."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from harness import study as study_mod
from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "convergence_vs_energy.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_notebook_executes_on_a_tiny_study(make_config, tmp_path, monkeypatch):
    for strategy in ("random", "grid"):
        study_mod.run(make_config(f"strategy={strategy}", "study.rounds=3"), tmp_path / "runs" / strategy)
    monkeypatch.setenv("HARNESS_RUNS", str(tmp_path / "runs"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "2 studies, 6 rounds, energy from: estimate" in text
    assert "| harness | synthetic | simple_cnn | paper3 | random |" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
