//! GPU health reported by the driver itself: XID errors, from two sources that see the same
//! faults — NVML critical-XID events ([`nvml_events`]) and the kernel log ([`kmsg`]) — merged
//! and counted once per fault by [`tally`], and explained by the [`catalogue`].
//!
//! Both sources run on threads of their own and send [`XidReport`]s into one channel the
//! watch loop reads; neither touches the sampler.

pub mod catalogue;
pub mod kmsg;
pub mod nvml_events;
pub mod tally;

pub use catalogue::{XidAction, XidInfo, lookup};
pub use tally::XidTally;

use crate::gpu::Vendor;
use crate::gpu::open::SourceSpec;
use std::path::{Path, PathBuf};

/// Which source saw an XID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum XidSource {
    /// An NVML `XidCriticalError` event.
    Nvml,
    /// A `NVRM: Xid` line in the kernel log.
    Kmsg,
}

impl XidSource {
    pub fn name(self) -> &'static str {
        match self {
            XidSource::Nvml => "nvml",
            XidSource::Kmsg => "kmsg",
        }
    }
}

/// One XID as a source saw it. NVML names the GPU by UUID, the kernel log by PCI address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XidReport {
    pub source: XidSource,
    pub uuid: Option<String>,
    /// Normalised PCI address (see [`normalize_pci`]).
    pub pci: Option<String>,
    pub code: u32,
    /// When the source saw it (Unix ms).
    pub at_ms: u64,
    /// What the driver said besides the code (kernel log only).
    pub text: Option<String>,
}

/// `domain:bus:device` in lower-case hex with a 4-digit domain and the function dropped, so
/// NVML's `00000000:3B:00.0` and the kernel's `0000:3b:00` compare equal; `None` when
/// `address` is not a PCI address.
pub fn normalize_pci(address: &str) -> Option<String> {
    let address = address.trim();
    let address = address.split_once('.').map_or(address, |(a, _)| a);
    let mut parts = address.split(':');
    let (domain, bus, device) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let hex = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len)
            .then(|| u32::from_str_radix(s, 16).ok())
            .flatten()
    };
    let (domain, bus, device) = (hex(domain, 8)?, hex(bus, 2)?, hex(device, 2)?);
    Some(format!("{domain:04x}:{bus:02x}:{device:02x}"))
}

/// Where XIDs come from for one `watch`: the receiver, and problems worth an event.
pub struct Started {
    pub reports: tokio::sync::mpsc::Receiver<XidReport>,
    pub problems: Vec<String>,
}

/// Starts the XID sources that fit `spec`: none for `--demo`; the NVML event thread unless
/// `--vendor` leaves NVIDIA out; the kernel log reader on `kmsg` (`None` = `/dev/kmsg`, an empty
/// path = off). A default `/dev/kmsg` that cannot be opened (no root) is only logged; a
/// configured path that cannot be opened is a problem.
pub fn start(spec: &SourceSpec, kmsg: Option<&Path>) -> Started {
    let (tx, reports) = tokio::sync::mpsc::channel(1024);
    let mut problems = Vec::new();
    if spec.demo.is_some() {
        return Started { reports, problems };
    }
    if spec.vendor.includes(Vendor::Nvidia) {
        nvml_events::spawn(spec.nvml_lib.clone(), tx.clone());
    }
    let (path, explicit): (PathBuf, bool) = match kmsg {
        None => (kmsg::DEV_KMSG.into(), false),
        Some(p) if p.as_os_str().is_empty() => return Started { reports, problems },
        Some(p) => (p.to_path_buf(), true),
    };
    let opened = kmsg::KmsgReader::open(&path).and_then(|r| r.spawn(tx));
    if let Err(e) = opened {
        let why = format!("XIDs from {} not read: {e}", path.display());
        if explicit {
            problems.push(why);
        } else {
            tracing::warn!(
                "{why} (NVML XID events are still counted; under systemd the \
                 gpuwarden-kmsg.conf drop-in lets the daemon read the kernel log)"
            );
        }
    }
    Started { reports, problems }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::multi::VendorChoice;
    use tokio::sync::mpsc::error::TryRecvError;

    fn amd_only() -> SourceSpec {
        SourceSpec {
            vendor: VendorChoice::Only(Vendor::Amd),
            ..SourceSpec::default()
        }
    }

    #[test]
    fn which_sources_start() {
        // --demo and an AMD-only watch with the kernel log off: nothing sends, ever.
        let demo = SourceSpec::demo(2, 1, Default::default());
        for (spec, kmsg) in [(demo, None), (amd_only(), Some(Path::new("")))] {
            let mut s = start(&spec, kmsg);
            assert!(s.problems.is_empty(), "{:?}", s.problems);
            assert_eq!(s.reports.try_recv(), Err(TryRecvError::Disconnected));
        }
        // A configured kernel log that cannot be opened is a problem worth an event.
        let s = start(&amd_only(), Some(Path::new("/nonexistent/kmsg")));
        assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
        assert!(
            s.problems[0].contains("/nonexistent/kmsg"),
            "{:?}",
            s.problems
        );
        // One that can be opened keeps the channel open.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("kmsg");
        std::fs::write(&log, "").unwrap();
        let mut s = start(&amd_only(), Some(&log));
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.reports.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn nvml_and_kernel_pci_addresses_normalise_alike() {
        let want = Some("0000:3b:00".to_string());
        assert_eq!(normalize_pci("00000000:3B:00.0"), want);
        assert_eq!(normalize_pci("0000:3b:00"), want);
        assert_eq!(normalize_pci("0000:3B:00.1"), want);
        assert_eq!(normalize_pci(" 0001:c1:1f "), Some("0001:c1:1f".into()));
        for bad in [
            "",
            "3b:00",
            "0000:3b:00:00",
            "zz:3b:00",
            "0000:3b:100",
            "0000::00",
        ] {
            assert_eq!(normalize_pci(bad), None, "{bad:?}");
        }
    }
}
