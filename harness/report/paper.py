"""Import the published per-round results of Yarally et al. (CAIN 2023), RQ1 CSV layout.

Layout: a header row; then blocks, each a row naming the model (DensePolyNN, DenseLinearNN,
SimpleCNN), a row naming the strategy (random_uniform, grid, bayesian_uniform), and 64 rows of
round number (from 0), hyperparameters, energy per training run, mean accuracy, running best.
File names RQ1_<FM|C10>_<3|5>.csv give the data set and the space.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError

MODELS = {"DensePolyNN": "dense_poly", "DenseLinearNN": "dense_linear", "SimpleCNN": "simple_cnn"}
STRATEGIES = {"random_uniform": "random", "grid": "grid", "bayesian_uniform": "bayes_pi"}
DATASETS = {"FM": "fashion_mnist", "C10": "cifar10"}
PARAMS = {"lr": "lr", "b1": "beta1", "b2": "beta2", "epsilon": "epsilon", "weight_decay": "weight_decay"}
PAPER_SEED = 1234
PAPER_REPETITIONS = 8  # each round trained its configuration 8 times; energy is per training


def read_paper_csv(path: Path, *, repetitions: int = PAPER_REPETITIONS) -> pd.DataFrame:
    """One row per published round, in trials.csv columns; energy_j is per round (all repetitions)."""
    match = re.search(r"_(FM|C10)_(3|5)\b", path.stem)
    dataset = DATASETS[match.group(1)] if match else "unknown"
    space = f"paper{match.group(2)}" if match else "unknown"
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read the paper's CSV ({exc.strerror})") from exc
    if not rows or "accuracy" not in rows[0] or "energy" not in rows[0]:
        raise HarnessError(f"{path} is not in the paper's RQ1 layout (header with energy and accuracy)")
    header = rows[0]
    col = {name: header.index(name) for name in ("nr", "energy", "accuracy") if name in header}
    params = {PARAMS[h]: i for i, h in enumerate(header) if h in PARAMS}
    model = strategy = None
    out = []
    for line_no, row in enumerate(rows[1:], start=2):
        first = row[0].strip() if row else ""
        if first in MODELS:
            model = MODELS[first]
        elif first in STRATEGIES:
            strategy = STRATEGIES[first]
        elif first.isdigit():
            if model is None or strategy is None:
                raise HarnessError(f"{path}:{line_no}: a round before its model and strategy rows")
            accuracy = float(row[col["accuracy"]])
            record = {
                "origin": "paper",
                "settings": "",  # the published protocol: one setting per (dataset, model, space)
                "study": f"paper-{dataset}-{model}-{strategy}-{space}",
                "dataset": dataset,
                "model": model,
                "strategy": strategy,
                "space": space,
                "seed": PAPER_SEED,
                "round": int(first) + 1,
                "status": "complete",
                "accuracy": accuracy,
                "energy_j": float(row[col["energy"]]) * repetitions,
                "energy_source": "paper_nvidia_smi",
                "machine": "Yarally et al. 2023: one GTX 1080",
                "repetitions": repetitions,
            }
            record.update({f"p_{name}": float(row[i]) for name, i in params.items()})
            out.append(record)
        elif any(cell.strip() for cell in row):
            raise HarnessError(f"{path}:{line_no}: unexpected row {row[:3]}; is this an RQ1 file?")
    if not out:
        raise HarnessError(f"{path} holds no rounds")
    return pd.DataFrame(out)
