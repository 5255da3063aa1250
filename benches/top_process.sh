#!/bin/bash
# Whole-process cost of the dashboard: `gpuwarden top --demo --demo-gpus 8` at a 1 s interval
# in a real 120x40 tmux pane for 60 s. Reports CPU time as a share of one core over the
# measured minute — utime+stime from /proc/PID/stat (10 ms ticks, sampled by the kernel) and
# the exact run time of every thread from /proc/PID/task/*/schedstat (ns) — and peak RSS
# (VmHWM).
# Targets: < 0.5 % of one core, < 20 MB RSS. Results go to BENCHMARKS.md ("Dashboard").
#
#   benches/top_process.sh                   # builds the release binary if needed
#   SECONDS_TO_RUN=60 GPUWARDEN=path/to/gpuwarden benches/top_process.sh [extra args]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GPUWARDEN:-$PWD/target/release/gpuwarden}
RUN=${SECONDS_TO_RUN:-60}
WARMUP=${WARMUP:-5}
command -v tmux >/dev/null || { echo "top_process.sh: tmux is missing" >&2; exit 2; }
[[ -x $BIN ]] || cargo build --release

W=$(mktemp -d "${TMPDIR:-/tmp}/gpuwarden-top.XXXXXX")
SOCK="$W/tmux.sock"
cleanup() { tmux -S "$SOCK" kill-server 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
printf 'set -g status off\nset -g default-terminal tmux-256color\n' > "$W/tmux.conf"
LANG=C.UTF-8 tmux -S "$SOCK" -f "$W/tmux.conf" new-session -d -s top -x 120 -y 40 \
    "exec $(printf '%q ' "$BIN" top --demo --demo-gpus 8 --interval 1s "$@")"
PID=$(tmux -S "$SOCK" display -p -t top '#{pane_pid}')
[[ $(cat "/proc/$PID/comm") == gpuwarden ]] || { echo "pane runs $(cat "/proc/$PID/comm"), not gpuwarden" >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
# Nanoseconds on CPU, summed over the process's threads (the UI thread and the sampler).
ns() { cat /proc/"$PID"/task/*/schedstat | awk '{s += $1} END {print s}'; }
HZ=$(getconf CLK_TCK)
sleep "$WARMUP"           # start-up (terminal setup, first frames) is not the steady state
T0=$(ticks); N0=$(ns); S0=$(date +%s.%N)
sleep "$RUN"
T1=$(ticks); N1=$(ns); S1=$(date +%s.%N)
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
TOTAL=$(ticks)
tmux -S "$SOCK" send-keys -t top q
python3 - "$T0" "$T1" "$S0" "$S1" "$HZ" "$HWM" "$RSS" "$TOTAL" "$N0" "$N1" <<'PY'
import sys
t0, t1, s0, s1, hz, hwm, rss, total, n0, n1 = map(float, sys.argv[1:])
cpu_s = (t1 - t0) / hz
run_s = (n1 - n0) / 1e9
wall = s1 - s0
print(f"measured {wall:.1f} s after warm-up:")
print(f"  schedstat run time {run_s * 1000:.1f} ms = {run_s / wall * 100:.3f} % of one core")
print(f"  utime+stime        {cpu_s * 1000:.0f} ms = {cpu_s / wall * 100:.2f} % of one core")
print(f"CPU since start: {total / hz * 1000:.0f} ms")
print(f"peak RSS (VmHWM) {hwm / 1024:.1f} MiB, RSS now {rss / 1024:.1f} MiB")
PY
