#!/usr/bin/env bash
# Target (b): ofa, latency <= 25 ms, best feasible predicted accuracy within 3,000 evaluations.
# Usage: benchmarks/ofa_constrained.sh [SHARED_DATA_DIR] [OUT]
set -euo pipefail
DATA=${1:-../shared/data}
evonas benchmark ofa --data-dir "$DATA/ofa_mbv3" --max-latency 25 --strategies random,aging,de,nsga2,pls,bounded \
  --population 20 --evaluations 3000 --seeds 20 --out "${2:-bench_out/ofa}"
