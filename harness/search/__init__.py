"""Search spaces and strategies. Every strategy is an Optuna sampler, so Optuna storage is the one
source of truth for all of them (scikit-optimize is re-fed from it each round). Each option of
``strategy`` builds its own sampler (harness/config/strategy.py)."""
