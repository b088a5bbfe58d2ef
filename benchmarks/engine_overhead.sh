#!/usr/bin/env bash
# Target (c): 10,000 nb201 evaluations through `evonas search` (run store included), timed end to end.
# Usage: benchmarks/engine_overhead.sh [SHARED_DATA_DIR] [STRATEGY]
set -euo pipefail
DATA=${1:-../shared/data}
OUT=$(mktemp -d)/run
/usr/bin/time -f "%e s wall, %U s user" evonas search --space nb201 --table "$DATA/nb201/nb201_table.csv" \
  --strategy "${2:-aging}" --evaluations 10000 --out "$OUT" --no-progress > /dev/null
rm -rf "$(dirname "$OUT")"
