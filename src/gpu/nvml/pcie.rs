//! PCIe throughput off the sampling path. `nvmlDeviceGetPcieThroughput` samples the link for
//! about 20 ms inside the call on real hardware, and it is asked for RX and TX on every GPU:
//! ~320 ms for 8 GPUs, on every sample, if read inline — the 100 ms floor would be a fiction
//! and every other field late. Here a thread of its own reads both counters of every GPU in
//! turn, again and again (at most once per [`PCIE_CADENCE`]), and a sample takes the newest
//! values it has: no NVML call, no wait. It starts from the values of the inline sample before
//! it; a GPU it has no value for yet says `warming_up`.

use super::read::{Handle, classify_global};
use crate::gpu::field::{Field, Missing};
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::PcieUtilCounter;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How often a round over every GPU starts (a round may take longer: 40 ms per GPU).
pub const PCIE_CADENCE: Duration = Duration::from_secs(1);

/// RX and TX of one GPU, in bytes/s.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PcieRates {
    pub rx: Field<u64>,
    pub tx: Field<u64>,
}

/// The newest PCIe rates per NVML index, kept by a background thread.
pub struct PcieReader {
    latest: Arc<Mutex<HashMap<u32, PcieRates>>>,
    stop: Arc<AtomicBool>,
    /// Dropped with the reader: the thread's wait between rounds ends at once.
    _wake: mpsc::Sender<()>,
}

impl PcieReader {
    /// Starts reading on a thread of its own, from the rates the last inline sample read
    /// (`seed`), so the values never drop out; `None` if the thread cannot start.
    pub fn start(nvml: Arc<Nvml>, seed: HashMap<u32, PcieRates>) -> Option<PcieReader> {
        let latest = Arc::new(Mutex::new(seed));
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, woken) = mpsc::channel::<()>();
        let (shared, stopped) = (Arc::clone(&latest), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("gpuwarden-pcie".into())
            .spawn(move || {
                let mut handles = Vec::new();
                while !stopped.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    round(&nvml, &shared, &stopped, &mut handles);
                    let rest = PCIE_CADENCE.saturating_sub(began.elapsed());
                    // One wake per round: the wait ends early only when the reader is
                    // dropped (its sender goes away), so a dropped source is let go of at once.
                    if let Err(mpsc::RecvTimeoutError::Disconnected) = woken.recv_timeout(rest) {
                        return;
                    }
                }
            })
            .ok()?;
        Some(PcieReader {
            latest,
            stop,
            _wake: wake,
        })
    }

    /// The newest rates of GPU `index`; `warming_up` before its first reading.
    pub fn rates(&self, index: u32) -> PcieRates {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.get(&index).cloned().unwrap_or(PcieRates {
            rx: Field::missing(Missing::WarmingUp),
            tx: Field::missing(Missing::WarmingUp),
        })
    }
}

impl Drop for PcieReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One pass over every GPU NVML lists, storing each GPU's rates as soon as they are read.
/// `handles` are kept between rounds (one driver call fewer per GPU each round), dropped
/// when NVML's count changes or a GPU's readings fail.
fn round(
    nvml: &Nvml,
    latest: &Mutex<HashMap<u32, PcieRates>>,
    stop: &AtomicBool,
    handles: &mut Vec<Option<Handle>>,
) {
    let Ok(count) = nvml.device_count() else {
        return;
    };
    if handles.len() != count as usize {
        handles.clear();
        handles.resize(count as usize, None);
    }
    for (index, kept) in (0..count).zip(handles.iter_mut()) {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let rates = match Handle::device(kept, nvml, index) {
            Ok(d) => {
                let read = |what, c| {
                    classify_global(what, d.pcie_throughput(c)).map(|kb| u64::from(kb) * 1024)
                };
                let rates = PcieRates {
                    rx: read("pcie rx", PcieUtilCounter::Receive),
                    tx: read("pcie tx", PcieUtilCounter::Send),
                };
                if rates.rx.value().is_none() && !super::read::settled(&rates.rx) {
                    *kept = None;
                }
                rates
            }
            Err(e) => {
                let f = classify_global::<u64>("pcie device", Err(e));
                PcieRates {
                    rx: f.clone(),
                    tx: f,
                }
            }
        };
        latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(index, rates);
    }
}
