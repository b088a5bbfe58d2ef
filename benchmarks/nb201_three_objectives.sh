#!/usr/bin/env bash
# nb201 with three objectives: c10 test accuracy (max), FPGA latency and parameter count (min);
# every strategy, 300 evaluations, 20 seeds. Writes OUT/results.json and OUT/hv_gap.png
# (hv_gap = 1 - HV(front found) / HV(true front of the whole table)).
# Usage: benchmarks/nb201_three_objectives.sh [SHARED_DATA_DIR] [OUT]
#   e.g. benchmarks/nb201_three_objectives.sh ../shared/data benchmarks/results/nb201_c10_fpga_params_3obj
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-bench_out/nb201_c10_fpga_params_3obj}
evonas benchmark nb201 --table "$DATA/nb201/nb201_table.csv" --search-column c10_test_acc_200ep_mean \
  --cost-column hwnb_fpga_lat_ms_c10,params_M_c10 --strategies random,aging,de,nsga2,pls,spls,bounded,lemonade \
  --population 20 --evaluations 300 --seeds 20 --out "$OUT"
