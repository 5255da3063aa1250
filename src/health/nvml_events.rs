//! XIDs from NVML: one event set with `XidCriticalError` registered on every GPU that
//! supports it, waited on in a loop on a thread of its own, each event sent to the daemon
//! as an [`XidReport`] naming the GPU by UUID and PCI address.
//!
//! The thread opens its own NVML handle (NVML counts initialisations), so the sampler's
//! source is untouched. A driver without event support, or no GPU supporting XID events,
//! ends the thread with a log line; the daemon goes on with the kernel log alone. Any other
//! failure (a driver reload, an error while waiting) starts over with a new handle and set
//! after [`RETRY`].

use super::{XidReport, XidSource, normalize_pci};
use crate::gpu::sampler::now_ms;
use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::event::EventSet;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

/// How long one wait lasts; the thread notices a daemon that stopped listening this often.
const WAIT_MS: u32 = 1_000;

/// How long the thread waits before starting over after a failure that may pass.
pub const RETRY: Duration = Duration::from_secs(5);

/// Why the event loop stopped.
enum Stop {
    /// Nothing will change that (no library, no event support): give up.
    ForGood(String),
    /// Worth another try with a new handle and set.
    ForNow(String),
}

/// A GPU registered in the set, known by its raw NVML handle.
struct Registered {
    handle: usize,
    uuid: String,
    pci: Option<String>,
}

/// Starts the event thread (it ends by itself when there is nothing to wait for).
pub fn spawn(lib: Option<PathBuf>, tx: tokio::sync::mpsc::Sender<XidReport>) {
    let started = std::thread::Builder::new()
        .name("xid-nvml".into())
        .spawn(move || {
            let mut first = true;
            loop {
                match run(lib.as_ref(), &tx, std::mem::take(&mut first)) {
                    Ok(()) => return,
                    Err(Stop::ForGood(why)) => {
                        tracing::info!("NVML XID events: {why}");
                        return;
                    }
                    Err(Stop::ForNow(why)) => {
                        tracing::warn!("NVML XID events: {why}; starting over in {RETRY:?}");
                        std::thread::sleep(RETRY);
                        if tx.is_closed() {
                            return;
                        }
                    }
                }
            }
        });
    if let Err(e) = started {
        tracing::error!("starting the NVML XID event thread: {e}");
    }
}

/// A failure of `what`: for good when the library lacks the function or the GPUs the
/// feature, for now otherwise.
fn stop(what: &str, e: &NvmlError) -> Stop {
    let why = format!("{what}: {e}");
    match e {
        NvmlError::FailedToLoadSymbol(_) | NvmlError::NotSupported => Stop::ForGood(why),
        _ => Stop::ForNow(why),
    }
}

/// One life of the event loop; `first` says whether NVML has ever been loaded here (after a
/// failure, a library that does not load yet is a driver still coming back).
fn run(
    lib: Option<&PathBuf>,
    tx: &tokio::sync::mpsc::Sender<XidReport>,
    first: bool,
) -> Result<(), Stop> {
    let mut builder = Nvml::builder();
    if let Some(path) = lib {
        builder.lib_path(OsStr::new(path));
    }
    let nvml = builder.init().map_err(|e| {
        let why = format!("NVML not loaded: {e}");
        if first {
            Stop::ForGood(why)
        } else {
            Stop::ForNow(why)
        }
    })?;
    let (set, gpus) = register_all(&nvml)?;
    if gpus.is_empty() {
        return Err(Stop::ForGood("no GPU supports XID events".into()));
    }
    tracing::info!("waiting for NVML XID events on {} GPU(s)", gpus.len());
    loop {
        if tx.is_closed() {
            return Ok(());
        }
        match set.wait(WAIT_MS) {
            Ok(data) => {
                let Some(code) = data.event_data else {
                    continue;
                };
                let code = match code {
                    XidError::Value(v) => u32::try_from(v).unwrap_or(u32::MAX),
                    XidError::Unknown => 999,
                };
                // SAFETY: the handle is only compared with the handles registered above,
                // never used to call NVML.
                let handle = unsafe { data.device.handle() } as usize;
                let gpu = gpus.iter().find(|g| g.handle == handle);
                let report = XidReport {
                    source: XidSource::Nvml,
                    uuid: gpu.map(|g| g.uuid.clone()),
                    pci: gpu.and_then(|g| g.pci.clone()),
                    code,
                    at_ms: now_ms(),
                    text: None,
                };
                if tx.blocking_send(report).is_err() {
                    return Ok(());
                }
            }
            Err(NvmlError::Timeout) => {}
            // A GPU fell off the bus: NVML says so on every wait; the kernel log has the XID.
            Err(NvmlError::GpuLost) => std::thread::sleep(Duration::from_millis(WAIT_MS.into())),
            Err(e) => return Err(stop("waiting for events", &e)),
        }
    }
}

/// One event set with XID events registered on every GPU that supports them.
fn register_all(nvml: &Nvml) -> Result<(EventSet<'_>, Vec<Registered>), Stop> {
    let count = nvml.device_count().map_err(|e| stop("counting GPUs", &e))?;
    let mut set = nvml
        .create_event_set()
        .map_err(|e| stop("creating an event set", &e))?;
    let mut gpus: Vec<Registered> = Vec::new();
    for index in 0..count {
        let Ok(device) = nvml.device_by_index(index) else {
            continue;
        };
        let supported = device
            .supported_event_types()
            .unwrap_or(EventTypes::empty());
        if !supported.contains(EventTypes::CRITICAL_XID_ERROR) {
            continue;
        }
        let Ok(uuid) = device.uuid() else { continue };
        let pci = device
            .pci_info()
            .ok()
            .and_then(|p| normalize_pci(&p.bus_id));
        // SAFETY: read for comparison with event data only.
        let handle = unsafe { device.handle() } as usize;
        match device.register_events(EventTypes::CRITICAL_XID_ERROR, set) {
            Ok(s) => {
                set = s;
                gpus.push(Registered { handle, uuid, pci });
            }
            Err(e) => {
                // A failed registration frees the set: start a new one with the GPUs so far.
                tracing::warn!("GPU {index}: XID events not registered: {}", e.error);
                set = nvml
                    .create_event_set()
                    .map_err(|e| stop("creating an event set", &e))?;
                for g in &gpus {
                    let what = format!("registering {} again", g.uuid);
                    let again = nvml
                        .device_by_uuid(g.uuid.as_str())
                        .map_err(|e| stop(&what, &e))
                        .and_then(|d| {
                            d.register_events(EventTypes::CRITICAL_XID_ERROR, set)
                                .map_err(|e| stop(&what, &e.error))
                        });
                    set = again?;
                }
            }
        }
    }
    Ok((set, gpus))
}
