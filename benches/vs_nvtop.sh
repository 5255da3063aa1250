#!/bin/bash
# gpuwarden's dashboard next to nvtop 3.0.1, on the same fake NVML: 8 busy H100s whose values
# move every second, each GPU running one real process, every NVML call costing CALL_COST_US
# of spinning (a real driver's ioctl costs microseconds; a C fake answers in nanoseconds, which
# would hide the cost of calls). Both tools run in a real 120x40 tmux pane, at 100 ms
# (`nvtop -d 1`) and at 1 s (`nvtop -d 10`), ROUNDS alternating rounds, each measured for
# SECONDS_TO_RUN after WARMUP seconds:
#   CPU    run time of all the process's threads (/proc/PID/task/*/schedstat, ns), as a share
#          of one core over the measured window
#   RSS    peak resident set (VmHWM)
#   calls  NVML calls per sample: every call the process made over its whole run (start-up
#          included), divided by its samples (nvmlDeviceGetUtilizationRates calls / GPUs)
# Results go to BENCHMARKS.md ("Dashboard next to nvtop").
#
#   benches/vs_nvtop.sh                        # builds the release binary if needed
#   ROUNDS=2 SECONDS_TO_RUN=60 CALL_COST_US=2 GPUWARDEN=path NVTOP=path benches/vs_nvtop.sh
#   STATE_EVERY=10 benches/vs_nvtop.sh         # values move every 10 s instead of every 1 s
#   INTERVALS=1s ROUNDS=3 SECONDS_TO_RUN=120 benches/vs_nvtop.sh   # only 1 s, longer runs
#
# Each time the state file changes, each client's fake re-reads it (~0.2 ms, a cost a real
# driver does not have); STATE_EVERY sets how often that happens (default every second).
#
# nvtop comes from Debian bookworm's contrib component, fetched with a private apt
# configuration under target/nvtop (nothing in /etc/apt changes); NVTOP=path uses another.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${GPUWARDEN:-$ROOT/target/release/gpuwarden}
RUN=${SECONDS_TO_RUN:-60}
WARMUP=${WARMUP:-5}
ROUNDS=${ROUNDS:-2}
GPUS=${GPUS:-8}
COST=${CALL_COST_US:-2}
for tool in tmux python3 cc; do
    command -v $tool >/dev/null || { echo "vs_nvtop.sh: $tool is missing" >&2; exit 2; }
done
[[ -x $BIN ]] || cargo build --release

fetch_nvtop() {
    local dir=$ROOT/target/nvtop
    if [[ ! -x $dir/root/usr/bin/nvtop ]]; then
        mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/parts"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm contrib" \
            > "$dir/sources.list"
        local apt=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=$dir/parts"
            -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o "APT::Sandbox::User=root")
        apt-get "${apt[@]}" update >&2
        (cd "$dir" && apt-get "${apt[@]}" download nvtop=3.0.1-1 >&2)
        dpkg-deb -x "$dir"/nvtop_3.0.1-1_amd64.deb "$dir/root"
    fi
    echo "$dir/root/usr/bin/nvtop"
}
NVTOP=${NVTOP:-$(fetch_nvtop)}

W=$(mktemp -d "${TMPDIR:-/tmp}/gpuwarden-vs-nvtop.XXXXXX")
SOCK="$W/tmux.sock"
PIDS=()
cleanup() {
    tmux -S "$SOCK" kill-server 2>/dev/null || true
    kill "${PIDS[@]}" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

# The fake NVML, built optimized; nvtop dlopens libnvidia-ml.so first.
cc -O2 -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o "$W/libnvidia-ml.so.1" \
    tests/fake_nvml/fake_nvml.c tests/fake_nvml/state.c -lpthread
ln -s libnvidia-ml.so.1 "$W/libnvidia-ml.so"

# One real process per GPU, so both tools describe processes from /proc.
WORKERS=()
for _ in $(seq "$GPUS"); do
    sleep 100000 &
    WORKERS+=($!)
done
PIDS+=("${WORKERS[@]}")
python3 benches/vs_nvtop_state.py "$W/state" "$GPUS" "$COST" "$(IFS=,; echo "${WORKERS[*]}")" &
PIDS+=($!)
for _ in $(seq 50); do [[ -s $W/state ]] && break; sleep 0.1; done
printf 'set -g status off\nset -g default-terminal tmux-256color\n' > "$W/tmux.conf"
LANG=C.UTF-8 tmux -S "$SOCK" -f "$W/tmux.conf" new-session -d -s idle -x 120 -y 40 "sleep 100000"

# measure NAME INTERVAL COMMAND...: one run in a fresh 120x40 window; prints a result line.
measure() {
    local name=$1 interval=$2
    shift 2
    local calls="$W/calls.$name.$interval" home="$W/home.$name"
    mkdir -p "$home"
    rm -f "$calls"
    tmux -S "$SOCK" new-window -d -t idle -n run \
        "exec env HOME=$home LD_LIBRARY_PATH=$W FAKE_NVML_STATE=$W/state FAKE_NVML_CALLS=$calls $(printf '%q ' "$@")"
    tmux -S "$SOCK" resize-window -t idle:run -x 120 -y 40 2>/dev/null || true
    local pid
    pid=$(tmux -S "$SOCK" display -p -t idle:run '#{pane_pid}')
    sleep "$WARMUP"
    [[ -d /proc/$pid ]] || { echo "$name exited during warm-up" >&2; exit 1; }
    local n0 n1 s0 s1 hwm
    n0=$(cat /proc/"$pid"/task/*/schedstat | awk '{s += $1} END {print s}')
    s0=$(date +%s.%N)
    sleep "$RUN"
    [[ -d /proc/$pid ]] || { echo "$name exited while measured" >&2; exit 1; }
    n1=$(cat /proc/"$pid"/task/*/schedstat | awk '{s += $1} END {print s}')
    s1=$(date +%s.%N)
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    tmux -S "$SOCK" send-keys -t idle:run q
    for _ in $(seq 100); do [[ -s $calls ]] && break; sleep 0.1; done
    [[ -s $calls ]] || { echo "$name left no call counts (did it quit?)" >&2; exit 1; }
    python3 - "$name" "$interval" "$n0" "$n1" "$s0" "$s1" "$hwm" "$calls" "$GPUS" <<'PY'
import sys
name, interval, n0, n1, s0, s1, hwm, calls, gpus = sys.argv[1:]
counts = {}
for line in open(calls):
    n, fn = line.split()
    counts[fn] = int(n)
samples = counts.get("GetUtilizationRates", 0) / int(gpus)
per_sample = sum(counts.values()) / samples if samples else float("nan")
cpu = (float(n1) - float(n0)) / 1e9 / (float(s1) - float(s0)) * 100
print(f"{name:10} {interval:>6} {cpu:8.3f} % {int(hwm) / 1024:8.1f} MiB {per_sample:8.1f} calls/sample ({samples:.0f} samples)")
PY
}

echo "$GPUS GPUs, ${COST} us per NVML call, values moving every ${STATE_EVERY:-1} s, 120x40, ${RUN} s per run after ${WARMUP} s"
echo "tool       interval    CPU (one core)  peak RSS   NVML calls per sample"
for round in $(seq "$ROUNDS"); do
    for interval in ${INTERVALS:-100ms 1s}; do
        delay=$([[ $interval == 100ms ]] && echo 1 || echo 10)
        if (( round % 2 )); then
            measure gpuwarden "$interval" "$BIN" top --nvml-lib "$W/libnvidia-ml.so.1" --vendor nvidia --interval "$interval"
            measure nvtop "$interval" "$NVTOP" -d "$delay"
        else
            measure nvtop "$interval" "$NVTOP" -d "$delay"
            measure gpuwarden "$interval" "$BIN" top --nvml-lib "$W/libnvidia-ml.so.1" --vendor nvidia --interval "$interval"
        fi
    done
done
