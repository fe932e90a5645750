"""optuna-dashboard (an optional extra) on a real study, checked through its HTTP API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness import study as study_mod
from tests.conftest import _free_port
from tests.test_energy import read_rows

pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is the optional extra 'dashboard'")


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_the_dashboard_names_the_objective_and_lists_each_round_s_energy(make_config, tmp_path):
    cfg = make_config("strategy=random", "study.rounds=3")
    study_mod.run(cfg, tmp_path / "run")
    rows = {int(r["round"]): r for r in read_rows(tmp_path / "run")}
    exe = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    assert exe is not None
    port = _free_port()
    server = subprocess.Popen(
        [exe, cfg.study.storage, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # until the server answers (or has died, or a minute passed)
            try:
                studies = get(f"{base}/api/studies")["study_summaries"]
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
                assert time.monotonic() < deadline, "optuna-dashboard did not answer within 60 s"
                time.sleep(0.2)
        (ours,) = [s for s in studies if s["study_name"] == cfg.study_name]
        detail = get(f"{base}/api/studies/{ours['study_id']}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert detail["objective_names"] == ["accuracy"]  # not "Objective 0"
    sortable = {a["key"]: a["sortable"] for a in detail["union_user_attrs"]}
    assert sortable["energy_j"] and sortable["train_s"] and sortable["suggest_j"]
    assert sortable["energy_source"] is False
    recorded = [t for t in detail["trials"] if any(a["key"] == "round" for a in t["user_attrs"])]
    assert len(recorded) == 3
    for trial in recorded:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        row = rows[int(attrs["round"])]
        assert float(attrs["energy_j"]) == pytest.approx(float(row["energy_j"]))
        assert attrs["energy_source"] == row["energy_source"] == "estimate"
        assert trial["values"] == [pytest.approx(float(row["accuracy"]))]
