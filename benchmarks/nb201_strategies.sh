#!/usr/bin/env bash
# Target (a): nb201, 300 evaluations, 20 seeds, every strategy, on several accuracy/cost pairs.
# Usage: benchmarks/nb201_strategies.sh [SHARED_DATA_DIR] [OUT_ROOT]
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-bench_out/nb201}
for cost in hwnb_fpga_lat_ms_c10 hwnb_eyeriss_lat_ms_c10 hwnb_raspi4_lat_ms_c10 hwnb_pixel3_lat_ms_c10; do
  for acc in c10_test_acc_200ep_mean c100_test_acc_200ep_mean; do
    evonas benchmark nb201 --table "$DATA/nb201/nb201_table.csv" --search-column "$acc" --cost-column "$cost" \
      --strategies random,aging,de,nsga2,pls,lemonade,spls --population 20 --evaluations 300 --seeds 20 --out "$OUT/$acc-$cost"
  done
done
