#!/usr/bin/env bash
# Whole-process cost of `gpuwarden watch`: 8 GPUs served by the fake NVML (built from
# tests/fake_nvml/), the reference watchdog.toml, 1 s interval, for DURATION
# seconds (default 600). Prints CPU time, CPU % of one core and peak RSS.
# The config is a copy of watchdog.toml with `listen` on a free loopback port (so a busy 9844
# does not take the HTTP thread out of the figure). Its [alerts.alertmanager] points at
# 127.0.0.1:9093, where nothing needs to run: a quiet run raises no alert, so the sink's thread
# only sleeps. SINKS=none strips the sink and the `page` steps (the ECC rule, which only pages,
# notifies instead) to measure the daemon without it.
# Usage: [SINKS=none] benches/watch_process.sh [DURATION]   (needs target/release/gpuwarden, cc)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
BIN=${BIN:-target/release/gpuwarden}
PID=
W=$(mktemp -d "${TMPDIR:-/tmp}/gw-watch-bench.XXXXXX")
trap 'kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$W"' EXIT
cc -O2 -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o "$W/libnvidia-ml.so.1" \
  tests/fake_nvml/fake_nvml.c tests/fake_nvml/state.c
sed 's/^listen = .*/listen = "127.0.0.1:0"/' watchdog.toml > "$W/watchdog.toml"
if [[ ${SINKS:-} == none ]]; then
  sed -i -e '/^\[alerts.alertmanager\]/,/^resend_interval/d' \
    -e '/^ *{ after = "[^"]*", do = "page" },$/d' \
    -e 's/, { after = "[^"]*", do = "page" }//' \
    -e 's/\[{ after = "0s", do = "page" }\]/[{ after = "0s", do = "notify" }]/' "$W/watchdog.toml"
  ! grep -q 'do = "page"\|alertmanager\]' "$W/watchdog.toml" || { echo "SINKS=none: pages left" >&2; exit 1; }
fi
"$BIN" check-config "$W/watchdog.toml" > /dev/null
{
  echo "driver_version = 560.35.03"
  echo "device_count = 8"
  for i in 0 1 2 3 4 5 6 7; do
    cat <<EOS
gpu$i.name = NVIDIA H100 80GB HBM3
gpu$i.uuid = GPU-bench000-0000-4000-8000-00000000000$i
gpu$i.pci_bus_id = 00000000:$((17 + i)):00.0
gpu$i.utilization_gpu_pct = 97
gpu$i.utilization_memory_pct = 45
gpu$i.memory_total_bytes = 85520809984
gpu$i.memory_used_bytes = 60000000000
gpu$i.temperature_c = 71
gpu$i.temperature_slowdown_c = 87
gpu$i.temperature_shutdown_c = 92
gpu$i.power_mw = 650000
gpu$i.power_limit_mw = 700000
gpu$i.power_default_limit_mw = 700000
gpu$i.clock_graphics_mhz = 1980
gpu$i.clock_sm_mhz = 1980
gpu$i.clock_mem_mhz = 2619
gpu$i.clock_graphics_max_mhz = 1980
gpu$i.clock_sm_max_mhz = 1980
gpu$i.clock_mem_max_mhz = 2619
gpu$i.pstate = 0
gpu$i.clocks_event_reasons = 4
gpu$i.encoder_pct = 0
gpu$i.decoder_pct = 0
gpu$i.pcie_link_gen = 5
gpu$i.pcie_link_width = 16
gpu$i.pcie_rx_kbps = 1000
gpu$i.pcie_tx_kbps = 2000
gpu$i.ecc_uncorrected_volatile = 0
gpu$i.compute_processes = $$:8589934592
EOS
  done
} > "$W/state"
FAKE_NVML_STATE="$W/state" FAKE_NVML_LOG="$W/setters.log" LD_LIBRARY_PATH="$W" \
  "$BIN" watch --quiet --config "$W/watchdog.toml" --state-dir "$W/state-dir" &
PID=$!
sleep "$DURATION"
kill -0 "$PID" || { echo "gpuwarden watch exited early" >&2; exit 1; }
RUN_NS=$(cat /proc/"$PID"/task/*/schedstat | awk '{s += $1} END {print s}')
TICKS=$(getconf CLK_TCK)
read -r UT ST < <(awk '{print $14, $15}' "/proc/$PID/stat")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
CPU_S=$(echo "scale=3; ($UT + $ST) / $TICKS" | bc)
PCT=$(echo "scale=4; 100 * $CPU_S / $DURATION" | bc)
echo "gpuwarden watch, 8 GPUs (fake NVML), 1 s interval, ${DURATION} s, sinks: ${SINKS:-alertmanager}:"
echo "  CPU time ${CPU_S} s = ${PCT} % of one core; peak RSS $((HWM / 1024)) MiB (${HWM} kB), RSS at end ${RSS} kB"
echo "  run time of its live threads (schedstat): $(echo "scale=3; $RUN_NS / 1000000" | bc) ms"
echo "  events logged: $(wc -l < "$W/state-dir/events.jsonl"), failed: $(grep -c '"result":"failed"' "$W/state-dir/events.jsonl" || true)"
