"""Search spaces and strategies. Every strategy is an Optuna sampler, so Optuna storage is the one
source of truth for all of them (scikit-optimize is re-fed from it each round). Each option of
``strategy`` builds its own sampler (harness/config/strategy.py).

``SkoptGPSampler`` (the paper's GP-PI, EI and joule-aware EIps) is an Optuna sampler usable in any
plain Optuna script: ``optuna.create_study(sampler=SkoptGPSampler(acq_func="PI", seed=0))``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SkoptGPSampler"]


def __getattr__(name: str) -> Any:
    # Optuna and scikit-optimize load only when a sampler is asked for, not with the search space.
    if name == "SkoptGPSampler":
        from harness.search.strategies import SkoptGPSampler

        return SkoptGPSampler
    raise AttributeError(f"module 'harness.search' has no attribute {name!r}")
