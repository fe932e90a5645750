"""Search spaces and strategies. Every strategy is an Optuna sampler, so Optuna storage is the one
source of truth for all of them (scikit-optimize is re-fed from it each round)."""

from __future__ import annotations

from harness.search.space import distributions, grid_values
from harness.search.strategies import STRATEGIES, make_sampler

__all__ = ["STRATEGIES", "distributions", "grid_values", "make_sampler"]
