//! The per-GPU metric families: every sampled number of a [`Snapshot`] in base units.
//!
//! Each GPU carries the labels `gpu` (index), `uuid`, `model` and `vendor`. A field that is
//! missing (not supported, GPU lost) is left out of its family rather than written as 0, so
//! Prometheus sees a gap, not a false reading; `gpuwarden_gpu_lost` is always present.

use super::text::{Exposition, Kind, push_label, push_label_num};
use crate::gpu::{GpuSample, Snapshot, ThrottleReason};
use std::ops::Range;

type Read = fn(&GpuSample) -> Option<f64>;

const MHZ: f64 = 1e6;

/// Plain one-value-per-GPU gauges: name, help, how to read it.
const GAUGES: &[(&str, &str, Read)] = &[
    (
        "gpuwarden_gpu_temperature_celsius",
        "GPU core temperature.",
        |g| g.temperature_c.get(),
    ),
    (
        "gpuwarden_gpu_slowdown_temperature_celsius",
        "Temperature at which the driver starts slowing the GPU down.",
        |g| g.temperature_slowdown_c.get(),
    ),
    (
        "gpuwarden_gpu_shutdown_temperature_celsius",
        "Temperature at which the GPU shuts down.",
        |g| g.temperature_shutdown_c.get(),
    ),
    (
        "gpuwarden_gpu_memory_used_bytes",
        "GPU memory in use.",
        |g| g.memory_used_bytes.get().map(|v| v as f64),
    ),
    (
        "gpuwarden_gpu_memory_total_bytes",
        "GPU memory installed.",
        |g| g.memory_total_bytes.get().map(|v| v as f64),
    ),
    (
        "gpuwarden_gpu_utilization_ratio",
        "Fraction of the last sample period a kernel was running (0 to 1).",
        |g| ratio(g.utilization_gpu_pct.get()),
    ),
    (
        "gpuwarden_gpu_memory_utilization_ratio",
        "Fraction of the last sample period GPU memory was read or written (0 to 1).",
        |g| ratio(g.utilization_memory_pct.get()),
    ),
    (
        "gpuwarden_gpu_power_watts",
        "Power draw of the board.",
        |g| g.power_w.get(),
    ),
    (
        "gpuwarden_gpu_power_limit_watts",
        "Enforced power limit of the board.",
        |g| g.power_limit_w.get(),
    ),
    (
        "gpuwarden_gpu_sm_clock_hertz",
        "Current SM (graphics) clock.",
        |g| g.clock_sm_mhz.get().map(|v| v as f64 * MHZ),
    ),
    (
        "gpuwarden_gpu_sm_clock_max_hertz",
        "Maximum SM (graphics) clock.",
        |g| g.clock_sm_max_mhz.get().map(|v| v as f64 * MHZ),
    ),
    (
        "gpuwarden_gpu_memory_clock_hertz",
        "Current memory clock.",
        |g| g.clock_mem_mhz.get().map(|v| v as f64 * MHZ),
    ),
    (
        "gpuwarden_gpu_memory_clock_max_hertz",
        "Maximum memory clock.",
        |g| g.clock_mem_max_mhz.get().map(|v| v as f64 * MHZ),
    ),
    (
        "gpuwarden_gpu_fan_speed_ratio",
        "Fan speed as a fraction of its maximum (0 to 1).",
        |g| ratio(g.fan_pct.get()),
    ),
    (
        "gpuwarden_gpu_performance_state",
        "Performance state: 0 (P0, fastest) to 15.",
        |g| g.pstate.get().map(f64::from),
    ),
    (
        "gpuwarden_gpu_encoder_utilization_ratio",
        "Video encoder utilization (0 to 1).",
        |g| ratio(g.encoder_pct.get()),
    ),
    (
        "gpuwarden_gpu_decoder_utilization_ratio",
        "Video decoder utilization (0 to 1).",
        |g| ratio(g.decoder_pct.get()),
    ),
    (
        "gpuwarden_gpu_pcie_link_generation",
        "Current PCIe link generation.",
        |g| g.pcie_link.value().map(|l| f64::from(l.generation)),
    ),
    (
        "gpuwarden_gpu_pcie_link_width",
        "Current PCIe link width (lanes).",
        |g| g.pcie_link.value().map(|l| f64::from(l.width)),
    ),
    (
        "gpuwarden_gpu_pcie_link_max_generation",
        "Highest PCIe link generation the GPU and its slot support.",
        |g| g.pcie_link_max.value().map(|l| f64::from(l.generation)),
    ),
    (
        "gpuwarden_gpu_pcie_link_max_width",
        "Widest PCIe link (lanes) the GPU and its slot support.",
        |g| g.pcie_link_max.value().map(|l| f64::from(l.width)),
    ),
    ("gpuwarden_gpu_processes", "Processes using the GPU.", |g| {
        g.processes.value().map(|p| p.len() as f64)
    }),
];

fn ratio(pct: Option<u32>) -> Option<f64> {
    pct.map(|p| f64::from(p) / 100.0)
}

/// The label lists of every GPU, escaped once per render into one buffer.
pub struct GpuLabels {
    buf: String,
    spans: Vec<Range<usize>>,
}

impl GpuLabels {
    pub fn new(snap: &Snapshot) -> Self {
        let mut buf = String::with_capacity(snap.gpus.len() * 120);
        let mut spans = Vec::with_capacity(snap.gpus.len());
        for g in &snap.gpus {
            let start = buf.len();
            push_label_num(&mut buf, "gpu", u64::from(g.index));
            buf.push(',');
            push_label(&mut buf, "uuid", &g.uuid);
            buf.push(',');
            push_label(&mut buf, "model", g.name.value().map_or("", String::as_str));
            buf.push(',');
            push_label(&mut buf, "vendor", g.vendor.name());
            spans.push(start..buf.len());
        }
        GpuLabels { buf, spans }
    }

    /// The label list of the `i`-th GPU of the snapshot.
    pub fn get(&self, i: usize) -> &str {
        self.spans.get(i).map_or("", |r| &self.buf[r.clone()])
    }
}

/// Writes every per-GPU family of `snap`.
pub fn write(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    e.family(
        "gpuwarden_gpu_info",
        Kind::Gauge,
        "Always 1; carries the GPU's driver version and PCI bus id.",
    );
    for (i, g) in snap.gpus.iter().enumerate() {
        let driver = g.driver_version.value().map_or("", String::as_str);
        let pci = g.pci_bus_id.value().map_or("", String::as_str);
        e.sample(
            "gpuwarden_gpu_info",
            labels.get(i),
            &[("driver_version", driver), ("pci_bus_id", pci)],
            1.0,
        );
    }
    e.family(
        "gpuwarden_gpu_lost",
        Kind::Gauge,
        "1 when the GPU fell off the bus or stopped answering, else 0.",
    );
    for (i, g) in snap.gpus.iter().enumerate() {
        let lost = if g.is_lost() { 1.0 } else { 0.0 };
        e.sample("gpuwarden_gpu_lost", labels.get(i), &[], lost);
    }
    for (name, help, read) in GAUGES {
        if !snap.gpus.iter().any(|g| read(g).is_some()) {
            continue;
        }
        e.family(name, Kind::Gauge, help);
        for (i, g) in snap.gpus.iter().enumerate() {
            if let Some(v) = read(g) {
                e.sample(name, labels.get(i), &[], v);
            }
        }
    }
    write_pcie(e, snap, labels);
    write_throttle(e, snap, labels);
    write_ecc(e, snap, labels);
    write_replays(e, snap, labels);
    super::memory::write(e, snap, labels);
}

fn write_pcie(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    const NAME: &str = "gpuwarden_gpu_pcie_throughput_bytes_per_second";
    let any = snap
        .gpus
        .iter()
        .any(|g| g.pcie_rx_bytes_per_s.get().is_some() || g.pcie_tx_bytes_per_s.get().is_some());
    if !any {
        return;
    }
    e.family(
        NAME,
        Kind::Gauge,
        "PCIe traffic by direction (rx: towards the GPU, tx: from the GPU).",
    );
    for (i, g) in snap.gpus.iter().enumerate() {
        for (dir, v) in [
            ("rx", g.pcie_rx_bytes_per_s.get()),
            ("tx", g.pcie_tx_bytes_per_s.get()),
        ] {
            if let Some(v) = v {
                e.sample(NAME, labels.get(i), &[("direction", dir)], v as f64);
            }
        }
    }
}

fn write_throttle(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    const NAME: &str = "gpuwarden_gpu_throttle_reason";
    if !snap.gpus.iter().any(|g| g.throttle.value().is_some()) {
        return;
    }
    e.family(
        NAME,
        Kind::Gauge,
        "1 while this reason holds the clocks below their maximum, else 0.",
    );
    for (i, g) in snap.gpus.iter().enumerate() {
        if let Some(set) = g.throttle.get() {
            for r in ThrottleReason::ALL {
                let v = if set.contains(r) { 1.0 } else { 0.0 };
                e.sample(NAME, labels.get(i), &[("reason", r.name())], v);
            }
        }
    }
}

fn write_ecc(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    const NAME: &str = "gpuwarden_gpu_ecc_uncorrected_errors_total";
    if !snap.gpus.iter().any(|g| g.ecc_uncorrected.get().is_some()) {
        return;
    }
    e.family(
        NAME,
        Kind::Counter,
        "Uncorrected ECC errors since the driver was loaded.",
    );
    for (i, g) in snap.gpus.iter().enumerate() {
        if let Some(v) = g.ecc_uncorrected.get() {
            e.sample(NAME, labels.get(i), &[], v as f64);
        }
    }
}

fn write_replays(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    const NAME: &str = "gpuwarden_gpu_pcie_replays_total";
    if !snap.gpus.iter().any(|g| g.pcie_replays.get().is_some()) {
        return;
    }
    e.family(
        NAME,
        Kind::Counter,
        "PCIe replays (link-level retransmissions) since the driver was loaded.",
    );
    for (i, g) in snap.gpus.iter().enumerate() {
        if let Some(v) = g.pcie_replays.get() {
            e.sample(NAME, labels.get(i), &[], v as f64);
        }
    }
}
