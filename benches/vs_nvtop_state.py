#!/usr/bin/env python3
"""The fake NVML's state for benches/vs_nvtop.sh: COUNT busy H100s, each running one of PIDS,
rewritten atomically every second with moving values (utilization, memory, temperature, power,
clocks, fan, PCIe throughput), every call costing COST_US of spinning.

    vs_nvtop_state.py STATE_FILE COUNT COST_US PID,PID,... [once]

$STATE_EVERY (seconds, default 1) sets how often the file is rewritten: each rewrite costs
every client a re-read of the file inside the fake (~0.2 ms), which a real driver does not.
"""
import math, os, sys, time

path, count, cost_us, pids = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(",")

def render(t):
    # reload_every_ms: nvtop never calls the functions at which the fake looks for a new
    # state file (it counts GPUs once), so both tools are made to look at any call.
    out = ["driver_version = 550.54.15", f"device_count = {count}", f"call_cost_us = {cost_us}",
           "reload_every_ms = 250"]
    for i in range(count):
        w = 0.5 + 0.5 * math.sin(t / 7 + i)
        p = f"gpu{i}."
        vals = {
            "utilization_gpu_pct": int(30 + 69 * w), "utilization_memory_pct": int(10 + 60 * w),
            "memory_total_bytes": 85520809984, "memory_used_bytes": int(20e9 + 50e9 * w),
            "memory_reserved_bytes": 500000000, "temperature_c": int(45 + 30 * w),
            "temperature_slowdown_c": 87, "temperature_shutdown_c": 92,
            "power_mw": int(120000 + 500000 * w), "power_limit_mw": 700000,
            "power_default_limit_mw": 700000, "clock_graphics_mhz": int(1200 + 780 * w),
            "clock_sm_mhz": int(1200 + 780 * w), "clock_mem_mhz": 2619,
            "clock_graphics_max_mhz": 1980, "clock_sm_max_mhz": 1980, "clock_mem_max_mhz": 2619,
            "fan_pct": int(30 + 50 * w), "pstate": 0, "clocks_event_reasons": 0,
            "encoder_pct": 0, "decoder_pct": 0, "pcie_link_gen": 5, "pcie_link_width": 16,
            "pcie_link_gen_max": 5, "pcie_link_width_max": 16,
            "pcie_rx_kbps": int(1e6 * w), "pcie_tx_kbps": int(5e5 * w),
            "ecc_mode": 1, "ecc_uncorrected_volatile": 0, "ecc_corrected_volatile": 0,
        }
        out += [f"{p}name = NVIDIA H100 80GB HBM3", f"{p}uuid = GPU-fa4e0000-0000-4000-8000-{i:012x}",
                f"{p}pci_bus_id = 00000000:{0x17 + i:02X}:00.0"]
        out += [f"{p}{k} = {v}" for k, v in vals.items()]
        pid = pids[i % len(pids)]
        out.append(f"{p}compute_processes = {pid}:{int(18e9 + 50e9 * w)}")
        out.append(f"{p}graphics_processes = ")
        out.append(f"{p}process_utilization = {pid}:{int(30 + 69 * w)}:{int(10 + 60 * w)}:0:0")
    return "\n".join(out) + "\n"

while True:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(render(time.time()))
    os.replace(tmp, path)
    if len(sys.argv) > 5 and sys.argv[5] == "once":
        break
    time.sleep(float(os.environ.get("STATE_EVERY", "1")))
