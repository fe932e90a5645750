#!/usr/bin/env bash
# studies/energy_aware: the commands that made runs/ (from the project root; about 40 min on 2 cores).
set -euo pipefail
COMMON=(space=cost_aware dataset.validation=0.2 study.rounds=30 study.repetitions=1 study.seed=0,1,2,3,4
        model=simple_cnn,dense_poly study.threads=1 study.progress=false
        hydra/launcher=joblib hydra.launcher.n_jobs=2
        study.storage=sqlite:///runs/energy_aware/optuna.db hydra.sweep.dir=studies/energy_aware/runs)
FMNIST=(dataset=fashion_mnist dataset.train_size=4000 dataset.test_size=2000)
STRATEGIES=(strategy=bayes_pi,bayes_ei,bayes_eipj,mo_gp,random)
PRUNED=(strategy=bayes_pi,random strategy.pruner=median)
harness=${HARNESS:-.venv/bin/harness}
for data in "dataset=digits" "${FMNIST[*]}"; do
    # shellcheck disable=SC2086  # $data holds several overrides
    $harness -m $data "${STRATEGIES[@]}" "${COMMON[@]}"
    $harness -m $data "${PRUNED[@]}" "${COMMON[@]}"
done
