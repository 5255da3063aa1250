#!/bin/bash
# What a day of an 8-GPU node costs to keep and to replay, in each format `record` writes:
# the compact zstd trace (`-o day.jsonl.zst`), whole snapshots per line (`-o day.jsonl`, the
# format before the compact one) and nvidia-smi --query-gpu CSV (`--format nvidia-smi-csv`).
# The day is the simulated fleet (`--demo --demo-gpus 8`, scenario $SCENARIO) sampled every
# second for 24 h on the simulated clock, so all three hold the very same samples. For each:
# bytes on disk, and the whole `gpuwarden replay` process's CPU time (user + sys) and peak
# RSS from /usr/bin/time, best of $RUNS runs, against the reference watchdog.toml and against
# a one-rule policy (which leaves mostly the cost of reading the trace). Results go to
# BENCHMARKS.md ("Trace size").
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

printf '[[rule]]\nname = "hot"\nmetric = "temperature_c"\nabove = 149\n' > "$W/one-rule.toml"

# Best CPU seconds (user + sys) of $RUNS replays of $1 against $2, and that run's peak RSS.
measure() {
    local best="" rss="" user sys kb cpu
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f '%U %S %M' -o "$W/time" "$BIN" replay --instant --trace "$1" \
            --config "$2" > "$W/replay.out"
        read -r user sys kb < "$W/time"
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
        if [[ -z $best ]] || awk -v c="$cpu" -v b="$best" 'BEGIN {exit !(c < b)}'; then
            best=$cpu; rss=$kb
        fi
    done
    echo "$best $rss"
}

printf '%-15s %12s %8s %22s %22s\n' format bytes MB "CPU s (reference)" "CPU s (one rule)"
for f in day.jsonl.zst day.jsonl day.csv; do
    bytes=$(stat -c %s "$W/$f")
    read -r ref ref_rss < <(measure "$W/$f" watchdog.toml)
    read -r one one_rss < <(measure "$W/$f" "$W/one-rule.toml")
    printf '%-15s %12s %8.1f %12s %6s kB %12s %6s kB\n' "$f" "$bytes" \
        "$(awk -v b="$bytes" 'BEGIN {print b / 1e6}')" "$ref" "$ref_rss" "$one" "$one_rss"
done
grep -m1 'samples of' "$W/replay.out" || true
