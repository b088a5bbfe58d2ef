#!/usr/bin/env bash
# Standard multi-objective test problems on integer grids (pymoo's functions, 10 variables x 11 levels):
# every strategy with its defaults beside Optuna's TPE, NSGA-II and random samplers, 20 seeds,
# hypervolume at 100 and 300 evaluations. k = 2: ZDT1, ZDT2, ZDT3; k = 3: DTLZ2, DTLZ4.
# Usage: benchmarks/grid_problems.sh [OUT_ROOT] [JOBS] [FUNCTION ...]
set -euo pipefail
OUT=${1:-bench_out/grid}
JOBS=${2:-2}
shift $(( $# < 2 ? $# : 2 ))
FUNCTIONS=${*:-zdt1 zdt2 zdt3 dtlz2 dtlz4}
mkdir -p "$OUT"
for f in $FUNCTIONS; do
  evonas benchmark grid --function "$f" --variables 10 --levels 11 \
    --strategies random,aging,de,nsga2,pls,spls,lemonade --peers optuna-tpe,optuna-nsga2,optuna-random \
    --checkpoints 100,300 --seeds 20 --jobs "$JOBS" --out "$OUT/$f" > "$OUT/$f.txt" 2> "$OUT/$f.log"
  cat "$OUT/$f.txt"
done
