#!/bin/bash
# The replay benchmark's studies, from a clone with .venv set up (make setup) and Fashion-MNIST
# installed (make data). Tables into studies/replay/tables, replayed rows into studies/replay/<cell>/.
# On 2 cores the digits tables take minutes, the Fashion-MNIST ones about an hour each.
set -euo pipefail
cd "$(dirname "$0")/../.."
H=.venv/bin
OUT=studies/replay
DIGITS="dataset=digits space=paper3 study.epochs=25 study.batch_size=64 dataset.validation=0.2"
FASHION="dataset=fashion_mnist space=paper3 study.epochs=2 study.batch_size=512 dataset.validation=0.2 dataset.train_size=24000"
COMMON="meter=estimate study.threads=1 study.storage=sqlite:///runs/tables.db"

table() {  # NAME CANDIDATES PROTOCOL...
  local name=$1 n=$2; shift 2
  $H/harness-table --out $OUT/tables/$name "$@" study.repetitions=8 strategy.candidates=$n $COMMON
}
replay() {  # CELL TABLE SEEDS "STRATEGY SETTINGS" PROTOCOL...
  local cell=$1 t=$2 seeds=$3 strategy=$4; shift 4
  local label; label=$(echo "$strategy" | sed 's/strategy=//; s/ /_/g; s/=/-/g')
  local dir=runs/replay/$cell/$label
  $H/harness -m "$@" study.backend=replay study.table=$OUT/tables/$t $strategy study.rounds=64 \
    "study.seed=range(0,$seeds)" study.repetitions=2 study.progress=false meter=estimate study.threads=1 \
    study.storage=journal:///$dir/journal.log hydra.sweep.dir=$dir/sweep
  mkdir -p $OUT/$cell/$label
  .venv/bin/python -c "import sys, pandas as pd, pathlib as p; pd.concat([pd.read_csv(f) for f in sorted(p.Path(sys.argv[1]).rglob('trials.csv'))]).to_parquet(sys.argv[2], index=False)" \
    $dir/sweep $OUT/$cell/$label/trials.parquet
}

for m in dense_poly dense_linear simple_cnn; do table digits-$m-paper3 256 $DIGITS model=$m; done
table digits-dense_poly-paper3-512 512 $DIGITS model=dense_poly
for m in dense_poly dense_linear; do table fashion-$m-paper3 128 $FASHION model=$m; done

for m in dense_poly dense_linear simple_cnn; do
  for s in strategy=random strategy=grid; do replay digits-$m digits-$m-paper3 200 "$s" $DIGITS model=$m; done
done
# bayes_pi: 200 seeds on four cells (run here in chunks of 50 seeds, two processes at a time, with
# OMP_NUM_THREADS=1: about 11 s per study on one core).
for m in dense_poly dense_linear simple_cnn; do
  replay digits-$m digits-$m-paper3 200 strategy=bayes_pi $DIGITS model=$m
done
replay fashion-dense_poly fashion-dense_poly-paper3 200 strategy=bayes_pi $FASHION model=dense_poly
replay digits-dense_poly digits-dense_poly-paper3 200 "strategy=random strategy.pruner=median" $DIGITS model=dense_poly
replay digits-dense_poly digits-dense_poly-paper3 10 strategy=bayes_eipj $DIGITS model=dense_poly
replay digits-dense_poly digits-dense_poly-paper3 10 strategy=mo_gp $DIGITS model=dense_poly
replay digits-dense_poly-512 digits-dense_poly-paper3-512 200 strategy=random $DIGITS model=dense_poly
for m in dense_poly dense_linear; do
  for s in strategy=random strategy=grid; do replay fashion-$m fashion-$m-paper3 200 "$s" $FASHION model=$m; done
done

# The report: every cell at once (Holm's correction spans all its comparisons).
$H/harness-report $OUT/*/*/trials.parquet $(for t in $OUT/tables/*; do echo --table $t; done) --out $OUT/report
