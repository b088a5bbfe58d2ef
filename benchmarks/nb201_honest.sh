#!/usr/bin/env bash
# The honest NB201 protocol (issue 25): the search sees a validation or 12-epoch column, fronts are
# scored on the 200-epoch mean test column against its true front; every strategy with its defaults
# and Optuna's samplers as peers, 20 seeds, hv_gap at 100, 300 and 1,000 evaluations.
# Pairs: {c10, c100, in16} x {FPGA, Pixel 3 latency}, and k = 3 (accuracy, FPGA latency, params) on c10 and c100.
# Needs the peers extra (pip install -e '.[peers]'). STRATEGIES, PEERS and CHECKPOINTS (environment) override the defaults.
# Usage: benchmarks/nb201_honest.sh [SHARED_DATA_DIR] [OUT_ROOT] [JOBS] [PAIR ...]
#   PAIR: c10-fpga c10-pixel3 c100-fpga c100-pixel3 in16-fpga in16-pixel3 c10-3obj c100-3obj (default: all)
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-bench_out/nb201_honest}
JOBS=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
PAIRS=${*:-c10-fpga c10-pixel3 c100-fpga c100-pixel3 in16-fpga in16-pixel3 c10-3obj c100-3obj}
STRATEGIES=${STRATEGIES:-random,aging,de,nsga2,pls,spls,lemonade}  # not bounded: it optimises one objective under bounds
PEERS=${PEERS-optuna-tpe,optuna-nsga2,optuna-random}
for pair in $PAIRS; do
  data=${pair%%-*}; cost=${pair#*-}
  case $data in
    c10) search=c10valid_valid_acc_200ep_mean ;;
    *) search=${data}_test_acc_12ep_1run ;;
  esac
  case $cost in
    fpga) costs=hwnb_fpga_lat_ms_c10 ;;
    pixel3) costs=hwnb_pixel3_lat_ms_c10 ;;
    3obj) costs=hwnb_fpga_lat_ms_c10,params_M_$data ;;
  esac
  start=$(date +%s)
  evonas benchmark nb201 --table "$DATA/nb201/nb201_table.csv" --search-column "$search" \
    --score-column "${data}_test_acc_200ep_mean" --cost-column "$costs" \
    --strategies "$STRATEGIES" --peers "$PEERS" --checkpoints "${CHECKPOINTS:-100,300,1000}" --seeds 20 --jobs "$JOBS" \
    --out "$OUT/$pair" > "$OUT.$pair.txt.partial" 2> "$OUT.$pair.log"
  echo "wall seconds: $(( $(date +%s) - start ))" >> "$OUT.$pair.txt.partial"
  mv "$OUT.$pair.txt.partial" "$OUT/$pair/table.txt"
  cat "$OUT/$pair/table.txt"
done
