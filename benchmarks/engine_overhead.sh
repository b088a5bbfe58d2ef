#!/usr/bin/env bash
# Engine overhead: 10,000 nb201 evaluations through `evonas search` (run store included), timed end to end.
# Usage: benchmarks/engine_overhead.sh [SHARED_DATA_DIR] [STRATEGY] [EXTRA_FLAGS]
#   e.g. benchmarks/engine_overhead.sh ../shared/data aging "--workers 2"   (the local process pool)
set -euo pipefail
DATA=${1:-../shared/data}
OUT=$(mktemp -d)/run
# shellcheck disable=SC2086  # EXTRA_FLAGS is a list of flags
/usr/bin/time -f "%e s wall, %U s user" evonas search --space nb201 --table "$DATA/nb201/nb201_table.csv" \
  --strategy "${2:-aging}" --evaluations 10000 --out "$OUT" --no-progress ${3:-} > /dev/null
rm -rf "$(dirname "$OUT")"
