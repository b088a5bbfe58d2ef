#!/usr/bin/env bash
# ASHA against full fidelity on NB201 at an equal epoch budget (issue 28 item 3): the default nb201
# strategy (spls) runs twice per seed, at full fidelity (every cell read at 200 epochs, 200 epochs
# each) and under ASHA (rungs 12 and 200 epochs: a new cell costs 12, a promotion 188), both stopped
# at the same number of epochs; hv_gap at each checkpoint, scored on the 200-epoch mean test column.
# Rungs: 12 = the 12-epoch single run; 200 = c10valid_valid_acc_200ep_mean on c10 (honest); c100 and
# in16 have no 200-epoch validation column, so their top rung IS the score column (marked not honest).
# Costs as in nb201_honest.sh. ETA, BUDGET, CHECKPOINTS and STRATEGIES (environment) override the defaults.
# Usage: benchmarks/nb201_asha.sh [SHARED_DATA_DIR] [OUT_ROOT] [JOBS] [PAIR ...]
#   PAIR: c10-fpga c10-pixel3 c100-fpga c100-pixel3 in16-fpga in16-pixel3 (default: all six)
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-bench_out/nb201_asha}
JOBS=${3:-1}
shift $(( $# < 3 ? $# : 3 ))
PAIRS=${*:-c10-fpga c10-pixel3 c100-fpga c100-pixel3 in16-fpga in16-pixel3}
ETA=${ETA:-8}                             # tuned on c10-fpga and c100-pixel3 among 3, 5, 8, 16 (docs/benchmarks.md)
BUDGET=${BUDGET:-20000}                  # a full-fidelity run: 100 evaluations
CHECKPOINTS=${CHECKPOINTS:-5000,20000}   # 5,000 epochs: 25 full-fidelity evaluations
STRATEGIES=${STRATEGIES:-spls}           # registry.DEFAULT_STRATEGIES["nb201"]
for pair in $PAIRS; do
  data=${pair%%-*}; cost=${pair#*-}
  case $data in
    c10) top=c10valid_valid_acc_200ep_mean ;;
    *) top=${data}_test_acc_200ep_mean ;;
  esac
  start=$(date +%s)
  evonas benchmark nb201 --table "$DATA/nb201/nb201_table.csv" \
    --fidelity-columns "12=${data}_test_acc_12ep_1run,200=$top" --score-column "${data}_test_acc_200ep_mean" \
    --cost-column "hwnb_${cost}_lat_ms_c10" --strategies "$STRATEGIES" --schedule asha --eta "$ETA" \
    --epoch-budget "$BUDGET" --checkpoints "$CHECKPOINTS" --seeds 20 --jobs "$JOBS" \
    --out "$OUT/$pair" > "$OUT.$pair.txt.partial" 2> "$OUT.$pair.log"
  echo "wall seconds: $(( $(date +%s) - start ))" >> "$OUT.$pair.txt.partial"
  mv "$OUT.$pair.txt.partial" "$OUT/$pair/table.txt"
  cat "$OUT/$pair/table.txt"
done
