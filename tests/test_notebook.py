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
def test_notebook_executes_as_the_readme_runs_it(make_config, tmp_path, monkeypatch):
    """Jupyter starts the kernel in notebooks/; the default runs/main is the project root's."""
    for strategy in ("random", "grid"):
        run_dir = tmp_path / "runs" / "main" / strategy
        study_mod.run(make_config(f"strategy={strategy}", "study.rounds=3"), run_dir)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.delenv("HARNESS_RUNS", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    kernel_dir = {"metadata": {"path": str(tmp_path / "notebooks")}}
    NotebookClient(nb, timeout=300, kernel_name="python3", resources=kernel_dir).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], outputs
    text = "".join(o.get("text", "") for o in outputs)
    assert "2 studies, 6 rounds, energy from: estimate" in text
    assert "| harness | synthetic | simple_cnn | paper3 (e1-r1-b32-n128-t64) | random |" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # energy and rounds


def test_notebook_draws_with_the_report_s_own_functions():
    code = "".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code")
    assert "convergence_figure" in code and ".step(" not in code and "plt." not in code
