#!/usr/bin/env bash
# Reaction time of `gpuwarden watch`, whole process: a hot sample -> systemd starting the unit
# again. Inside the real systemd sandbox the tests use (tests/harness/systemd-sandbox.sh, needs
# root), the release binary watches 8 GPUs of the fake NVML (tests/fake_nvml/) with a rule that
# restarts fake-infer@0.service on the first sample above 85 °C. For each trial GPU 0 is made
# hot by rewriting the fake's state file, and two delays are taken, both on the wall clock:
#   (a) sample -> restart: `at_ms` of the `fired` event in events.jsonl (the wall time the
#       sample was taken) to the new main process's start (systemd's ExecMainStartTimestamp,
#       µs, read with busctl);
#   (b) hot state written -> restart: includes waiting for the next sample (up to one interval).
# Then GPU 0 is cooled, the rule clears, and the next trial starts 2.5 s plus a random part of
# one interval later (systemd refuses a unit started more than 5 times in 10 s; the random part
# spreads the hot write over the sampling phase). cooldown = 0s and budget = 1000 so the watchdog's
# own restart limits never refuse; verify = 30s, so a restart is judged after the GPU cooled.
# Trial 1 includes connecting to the bus and Subscribe; it is printed on its own as well.
# Last, a baseline without the daemon: (c) `busctl call ... RestartUnit` from the shell (its
# own start and bus connection included) -> unit started, the same number of trials.
#
# Usage: benches/reaction.sh [TRIALS] [INTERVAL...]   (default: 20 trials at 1s and at 100ms;
#        an INTERVAL is whole seconds or milliseconds: 2s, 250ms)
#        needs target/release/gpuwarden (BIN=... for another), cc, root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" != --inside ]]; then
    TRIALS=${1:-20}
    shift || true
    INTERVALS=("$@")
    [[ ${#INTERVALS[@]} -gt 0 ]] || INTERVALS=(1s 100ms)
    BIN=$(realpath "${BIN:-target/release/gpuwarden}")
    export BIN
    exec tests/harness/systemd-sandbox.sh --timeout $((60 + TRIALS * ${#INTERVALS[@]} * 12)) \
        -- "$PWD/benches/reaction.sh" --inside "$TRIALS" "${INTERVALS[@]}"
fi

# ---------------------------------- inside the sandbox ----------------------------------
TRIALS=$2
shift 2
W="$SANDBOX_DIR/reaction"
mkdir -p "$W"
cc -O2 -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o "$W/libnvidia-ml.so.1" \
    tests/fake_nvml/fake_nvml.c tests/fake_nvml/state.c

# The fake's state, GPU 0 at $1 °C, the others at 60 °C; written atomically (temp + rename).
write_state() {
    {
        echo "driver_version = 560.35.03"
        echo "device_count = 8"
        for i in 0 1 2 3 4 5 6 7; do
            local t=60
            [[ $i -eq 0 ]] && t=$1
            cat <<EOS
gpu$i.name = NVIDIA H100 80GB HBM3
gpu$i.uuid = GPU-bench000-0000-4000-8000-00000000000$i
gpu$i.pci_bus_id = 00000000:$((17 + i)):00.0
gpu$i.utilization_gpu_pct = 97
gpu$i.utilization_memory_pct = 45
gpu$i.memory_total_bytes = 85520809984
gpu$i.memory_used_bytes = 60000000000
gpu$i.temperature_c = $t
gpu$i.temperature_slowdown_c = 87
gpu$i.temperature_shutdown_c = 92
gpu$i.power_mw = 650000
gpu$i.power_limit_mw = 700000
gpu$i.clock_sm_mhz = 1980
gpu$i.clock_sm_max_mhz = 1980
EOS
        done
    } > "$W/state.tmp"
    mv "$W/state.tmp" "$W/state"
}

UNIT_PATH=/org/freedesktop/systemd1/unit/fake_2dinfer_400_2eservice
prop() {
    busctl --user get-property org.freedesktop.systemd1 "$UNIT_PATH" \
        org.freedesktop.systemd1.Service "$1" | awk '{print $2}'
}
count() { grep -c "\"kind\":\"$1\"" "$SD/events.jsonl" || true; }
# Waits (up to 15 s) until event kind $1 appears more than $2 times.
wait_count() {
    for _ in $(seq 750); do
        [[ $(count "$1") -gt $2 ]] && return 0
        sleep 0.02
    done
    echo "reaction: no new $1 event; last events:" >&2
    tail -n 5 "$SD/events.jsonl" >&2
    return 1
}
# min / median / max of the numbers on stdin (ms, one a line).
stats() {
    sort -n | awk '{v[NR] = $1} END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "min %.1f ms, median %.1f ms, max %.1f ms (n=%d)", v[1], m, v[NR], NR }'
}

write_state 60
for INTERVAL in "$@"; do
    SD="$W/state-$INTERVAL"
    CFG="$W/watchdog-$INTERVAL.toml"
    cat > "$CFG" <<EOF
[watchdog]
interval = "$INTERVAL"
state_dir = "$SD"
listen = "127.0.0.1:0"

[restarts]
budget = 1000
window = "1h"
cooldown = "0s"
job_timeout = "20s"
verify = "30s"

[units]
allow = ["fake-infer@*.service"]
auto = false

[[units.map]]
gpu = 0
units = ["fake-infer@0.service"]

[[rule]]
name = "reaction"
metric = "temperature_c"
above = 85
for = "0s"
severity = "critical"
steps = [{ do = "restart_units" }]
EOF
    FAKE_NVML_STATE="$W/state" FAKE_NVML_LOG="$W/setters.log" LD_LIBRARY_PATH="$W" \
        "$BIN" watch --quiet --config "$CFG" >"$W/daemon-$INTERVAL.log" 2>&1 &
    DAEMON=$!
    case $INTERVAL in *ms) IV_MS=${INTERVAL%ms} ;; *s) IV_MS=$((${INTERVAL%s} * 1000)) ;; esac
    sleep 3 # started, sampling
    : > "$W/a" && : > "$W/b"
    for trial in $(seq "$TRIALS"); do
        pause=$((2500 + RANDOM % IV_MS))
        sleep "$((pause / 1000)).$(printf %03d $((pause % 1000)))"
        fired=$(count fired) restarted=$(count restart_unit) cleared=$(count cleared)
        pid_before=$(prop MainPID)
        t_write=$(date +%s%N)
        write_state 95
        wait_count restart_unit "$restarted"
        write_state 60
        line=$(grep '"kind":"restart_unit"' "$SD/events.jsonl" | tail -n 1)
        [[ $line == *'"result":"ok"'* ]] || { echo "reaction: restart failed: $line" >&2; exit 1; }
        [[ $(count fired) -eq $((fired + 1)) ]] || { echo "reaction: rule did not fire once" >&2; exit 1; }
        at_ms=$(grep '"kind":"fired"' "$SD/events.jsonl" | tail -n 1 | sed 's/.*"at_ms":\([0-9]*\).*/\1/')
        start_us=$(prop ExecMainStartTimestamp)
        [[ $(prop MainPID) != "$pid_before" ]] || { echo "reaction: MainPID unchanged" >&2; exit 1; }
        a=$(echo "scale=1; ($start_us - $at_ms * 1000) / 1000" | bc)
        b=$(echo "scale=1; ($start_us - $t_write / 1000) / 1000" | bc)
        echo "$a" >> "$W/a"
        echo "$b" >> "$W/b"
        [[ $trial -eq 1 ]] && first="trial 1: (a) $a ms, (b) $b ms"
        wait_count cleared "$cleared"
    done
    kill -TERM "$DAEMON"
    wait "$DAEMON" || true
    echo "interval $INTERVAL, $TRIALS trials (8 GPUs, fake NVML, fake-infer@0.service):"
    echo "  (a) hot sample -> unit started:        $(stats < "$W/a")"
    echo "  (b) hot state written -> unit started: $(stats < "$W/b")"
    echo "  $first"
    echo "  (a) each: $(tr '\n' ' ' < "$W/a")"
    echo "  (b) each: $(tr '\n' ' ' < "$W/b")"
done

: > "$W/c"
for trial in $(seq "$TRIALS"); do
    sleep 2.5
    t_call=$(date +%s%N)
    busctl --user call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        org.freedesktop.systemd1.Manager RestartUnit ss fake-infer@0.service replace > /dev/null
    for _ in $(seq 250); do
        start_us=$(prop ExecMainStartTimestamp)
        [[ $start_us -gt $((t_call / 1000)) ]] && break
        sleep 0.02
    done
    echo "scale=1; ($start_us - $t_call / 1000) / 1000" | bc >> "$W/c"
done
echo "baseline, $TRIALS restarts without the daemon:"
echo "  (c) busctl RestartUnit -> unit started: $(stats < "$W/c")"
echo "  (c) each: $(tr '\n' ' ' < "$W/c")"
