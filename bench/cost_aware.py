"""How far apart the cheapest and the costliest round of space=cost_aware lie.

The space searches epochs, batch size and layer counts, so a round's cost varies; its bounds are meant
to keep the costliest round within 20x of the cheapest. This trains every corner of those four settings
(16 for SimpleCNN, 8 for a dense model, whose conv layers mean nothing) with the harness's own training
loop, one repetition, lr 1e-3, and reports the training time of the cheapest and of the costliest corner
and their ratio (medians of 3 runs), per data set and model. Time stands in for energy: the estimate
meter charges time times busy cores, and a counter-based meter on one busy process tracks time closely.

    .venv/bin/python bench/cost_aware.py [--train-size 8000] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.config.options import make  # noqa: E402
from harness.train import Hyperparameters, prepare, train_round  # noqa: E402

SETTINGS = ("epochs", "batch_size", "linear_layers", "conv_layers")


def corners(model: str) -> list[dict[str, int]]:
    space = yaml.safe_load((ROOT / "conf/space/cost_aware.yaml").read_text())["params"]
    names = [n for n in SETTINGS if model == "simple_cnn" or n != "conv_layers"]
    bounds = [(int(space[n]["low"]), int(space[n]["high"])) for n in names]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*bounds)]


def seconds(data, model: str, corner: dict[str, int], runs: int = 3) -> float:
    """Median wall time of ``runs`` rounds at this corner."""
    return statistics.median(once(data, model, corner) for _ in range(runs))


def once(data, model: str, corner: dict[str, int]) -> float:
    layers = {k: v for k, v in corner.items() if k in ("linear_layers", "conv_layers")}
    spec = make("model", model, **layers)
    start = time.perf_counter()
    outcome = train_round(
        spec,
        data,
        Hyperparameters(lr=1e-3),
        epochs=corner["epochs"],
        batch_size=corner["batch_size"],
        seeds=[0],
        stack=1,
    )
    assert not outcome.failed, outcome.reason
    return time.perf_counter() - start


def show(corner: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in corner.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=8000, help="Fashion-MNIST training images")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sets = {"digits": make("dataset", "digits").load()}
    try:
        fashion = make("dataset", "fashion_mnist", download=False, train_size=args.train_size, test_size=2000)
        sets["fashion_mnist"] = fashion.load(progress=False)
    except Exception as exc:
        print(f"fashion_mnist skipped: {exc} (make data installs it)", file=sys.stderr)
    print("| data set | model | cheapest corner | s | costliest corner | s | ratio |")
    print("|---|---|---|---:|---|---:|---:|")
    for name, raw in sets.items():
        data = prepare(raw, torch.device("cpu"))
        for model in ("simple_cnn", "dense_poly"):
            seconds(data, model, corners(model)[0])  # warm-up
            timed = sorted((seconds(data, model, c), c) for c in corners(model))
            (cheap_s, cheap), (dear_s, dear) = timed[0], timed[-1]
            cells = [name, model, show(cheap), f"{cheap_s:.3f}", show(dear), f"{dear_s:.3f}"]
            print("| " + " | ".join([*cells, f"{dear_s / cheap_s:.1f}x"]) + " |", flush=True)


if __name__ == "__main__":
    main()
