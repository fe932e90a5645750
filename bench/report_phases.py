"""Where one harness-report's time goes: the report run in this process with each step timed.

    .venv/bin/python bench/report_phases.py INPUT... --out DIR [harness-report options]

Prints one line per step (seconds, summed over its calls, and the process's peak memory after it)
to stderr. Steps overlap: best_so_far runs inside the plots and the anytime table.
"""

from __future__ import annotations

import functools
import importlib
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

STEPS = {
    "harness.report.load": ["load"],
    "harness.report.reduce": ["reduce_studies", "reduce_strategies", "pareto_rounds"],
    "harness.report.compare": ["compare_strategies"],
    "harness.report.anytime": ["anytime", "best_so_far"],
    "harness.report.plots": [
        "plot_convergence",
        "plot_pareto",
        "plot_joules_to_target",
        "plot_time_to_target",
    ],
}


def main() -> None:
    started = time.perf_counter()
    import harness.report.cli as cli

    seconds: dict[str, float] = {}
    peak: dict[str, float] = {}

    def timed(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(step)
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
                peak[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        return run

    for module_name, names in STEPS.items():
        module = importlib.import_module(module_name)
        for name in names:
            step = timed(name, getattr(module, name))
            setattr(module, name, step)
            for user in (cli, importlib.import_module("harness.report.plots")):
                if getattr(user, name, None) is not None and user is not module:
                    setattr(user, name, step)
    imported = time.perf_counter() - started
    sys.argv = ["harness-report", *sys.argv[1:]]
    try:
        cli.main()
    except SystemExit as exit:
        if exit.code:
            raise
    print(
        f"| step | seconds | peak memory after (MiB) |\n|---|---:|---:|\n| imports | {imported:.1f} | |",
        file=sys.stderr,
    )
    for name, value in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"| {name} | {value:.1f} | {peak[name]:,.0f} |", file=sys.stderr)
    print(f"| whole report | {time.perf_counter() - started:.1f} | |", file=sys.stderr)


if __name__ == "__main__":
    main()
