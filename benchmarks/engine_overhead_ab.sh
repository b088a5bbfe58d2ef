#!/usr/bin/env bash
# Engine overhead, side by side: the same nb201 search (aging, run store included) through two
# checkouts, interleaved, ROUNDS times; prints each wall time and the ratio NEW/OLD per round.
# Usage: benchmarks/engine_overhead_ab.sh OLD_CHECKOUT NEW_CHECKOUT [SHARED_DATA_DIR] [EVALUATIONS] [ROUNDS]
#   e.g. git worktree add --detach /tmp/old 8af08b0 && benchmarks/engine_overhead_ab.sh /tmp/old .
set -euo pipefail
OLD=$(cd "$1" && pwd); NEW=$(cd "$2" && pwd)
DATA=$(cd "${3:-../shared/data}" && pwd)
N=${4:-3000}; ROUNDS=${5:-3}
run() {  # $1: checkout; prints wall seconds
  local out; out=$(mktemp -d)/run
  local t0; t0=$(date +%s.%N)
  set -e; (cd "$1" && PYTHONPATH="$1" python -m evonas search --space nb201 --table "$DATA/nb201/nb201_table.csv" \
    --strategy aging --evaluations "$N" --out "$out" --no-progress --quiet > /dev/null)
  echo "$(date +%s.%N) - $t0" | bc
  rm -rf "$(dirname "$out")"
}
for i in $(seq "$ROUNDS"); do
  old=$(run "$OLD"); new=$(run "$NEW")
  echo "round $i: old ${old} s, new ${new} s, new/old $(echo "scale=3; $new / $old" | bc)"
done
