#!/usr/bin/env bash
# Whole-process cost of `gpuwarden watch`: 8 GPUs served by the fake NVML (built from
# tests/fake_nvml/fake_nvml.c), the reference watchdog.toml, 1 s interval, for DURATION
# seconds (default 600). Prints CPU time, CPU % of one core and peak RSS.
# Usage: benches/watch_process.sh [DURATION]   (needs target/release/gpuwarden and cc)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
BIN=${BIN:-target/release/gpuwarden}
W=$(mktemp -d "${TMPDIR:-/tmp}/gw-watch-bench.XXXXXX")
trap 'kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$W"' EXIT
cc -O2 -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 -o "$W/libnvidia-ml.so.1" tests/fake_nvml/fake_nvml.c tests/fake_nvml/state.c
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
  "$BIN" watch --quiet --config watchdog.toml --state-dir "$W/state-dir" &
PID=$!
sleep "$DURATION"
TICKS=$(getconf CLK_TCK)
read -r UT ST < <(awk '{print $14, $15}' "/proc/$PID/stat")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
CPU_S=$(echo "scale=3; ($UT + $ST) / $TICKS" | bc)
PCT=$(echo "scale=4; 100 * $CPU_S / $DURATION" | bc)
echo "gpuwarden watch, 8 GPUs (fake NVML), 1 s interval, ${DURATION} s:"
echo "  CPU time ${CPU_S} s = ${PCT} % of one core; peak RSS $((HWM / 1024)) MiB (${HWM} kB), RSS at end ${RSS} kB"
