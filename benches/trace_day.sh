#!/bin/bash
# What a day of an 8-GPU node costs to keep and to replay, in each format `record` writes:
# the compact zstd trace (`-o day.jsonl.zst`), whole snapshots per line (`-o day.jsonl`, the
# format before the compact one) and nvidia-smi --query-gpu CSV (`--format nvidia-smi-csv`).
# The day is the simulated fleet (`--demo --demo-gpus 8`, scenario $SCENARIO) sampled every
# second for 24 h on the simulated clock, so all three hold the very same samples. For each:
# bytes on disk, and the whole `gpuwarden replay` process's CPU time (user + sys) and peak
# RSS from /usr/bin/time, best of $RUNS runs. Results go to BENCHMARKS.md ("Trace size").
# Targets: compact ≤ 30 MB per 8-GPU day, its replay ≤ 0.5 s CPU in flat memory.
#
#   benches/trace_day.sh                     # builds the release binary if needed
#   RUNS=5 DURATION=24h SCENARIO=mixed GPUWARDEN=path/to/gpuwarden benches/trace_day.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GPUWARDEN:-$PWD/target/release/gpuwarden}
RUNS=${RUNS:-3}
DURATION=${DURATION:-24h}
SCENARIO=${SCENARIO:-mixed}
[[ -x /usr/bin/time ]] || { echo "trace_day.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
[[ -x $BIN ]] || cargo build --release

W=$(mktemp -d "${TMPDIR:-/tmp}/gpuwarden-trace-day.XXXXXX")
trap 'rm -rf "$W"' EXIT
record() { "$BIN" --demo --demo-gpus 8 --scenario "$SCENARIO" --seed 1 record \
    --simulated-time --duration "$DURATION" "$@"; }
record -o "$W/day.jsonl.zst"
record -o "$W/day.jsonl"
record --format nvidia-smi-csv -o "$W/day.csv"

printf '%-22s %14s %10s %16s %12s\n' format bytes "MB" "replay CPU (s)" "peak RSS"
for f in day.jsonl.zst day.jsonl day.csv; do
    bytes=$(stat -c %s "$W/$f")
    best=""
    rss=""
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f '%U %S %M' -o "$W/time" "$BIN" replay --instant --trace "$W/$f" \
            --config watchdog.toml > "$W/replay.out"
        read -r user sys kb < "$W/time"
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
        if [[ -z $best ]] || awk -v c="$cpu" -v b="$best" 'BEGIN {exit !(c < b)}'; then
            best=$cpu; rss=$kb
        fi
    done
    printf '%-22s %14s %10.1f %16s %9s kB\n' "$f" "$bytes" "$(awk -v b="$bytes" 'BEGIN {print b / 1e6}')" "$best" "$rss"
done
grep -m1 'samples of' "$W/replay.out" || true
