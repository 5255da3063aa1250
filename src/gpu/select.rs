//! Which GPUs `-i/--gpus` names: indices and ranges (`0-3,6`), UUIDs (`GPU-…`, and `MIG-…`
//! for the GPU holding that MIG device) and PCI bus ids in the forms nvidia-smi prints and
//! takes (`00000000:17:00.0`, `0000:17:00.0`, `17:00.0`), mixed freely. Parsing is
//! [`GpuList::parse`]; [`GpuList::resolve`] turns the list into the indices of one snapshot's
//! GPUs, or the error naming the first entry that matches none and what there is instead.

use super::model::{GpuSample, Snapshot};

/// One entry of `-i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuPick {
    /// `3`, or each index of a range `0-3`.
    Index(u32),
    /// `GPU-…` or `MIG-…`, as typed (matched without regard to case).
    Uuid(String),
    /// A PCI bus id, as typed and as parsed.
    Pci(String, PciBusId),
}

/// A PCI address: domain, bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciBusId {
    domain: u32,
    bus: u8,
    device: u8,
    function: u8,
}

impl PciBusId {
    /// `00000000:17:00.0` (NVML), `0000:17:00.0` (sysfs, lspci -D) or `17:00.0` (lspci,
    /// domain 0); hex in either case.
    pub fn parse(s: &str) -> Option<PciBusId> {
        let (head, function) = s.trim().rsplit_once('.')?;
        let parts: Vec<&str> = head.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [bus, device] => ("0", *bus, *device),
            [domain, bus, device] if (1..=8).contains(&domain.len()) => (*domain, *bus, *device),
            _ => return None,
        };
        let hex = |p: &str, max: usize| {
            (1..=max).contains(&p.len()) && p.chars().all(|c| c.is_ascii_hexdigit())
        };
        if !(hex(domain, 8) && hex(bus, 2) && hex(device, 2) && hex(function, 1)) {
            return None;
        }
        let id = PciBusId {
            domain: u32::from_str_radix(domain, 16).ok()?,
            bus: u8::from_str_radix(bus, 16).ok()?,
            device: u8::from_str_radix(device, 16).ok()?,
            function: u8::from_str_radix(function, 16).ok()?,
        };
        (id.device < 32 && id.function < 8).then_some(id)
    }
}

/// The GPUs `-i` names, in the order given, each once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuList(pub Vec<GpuPick>);

/// Ranges larger than this are a typo, not a box.
const MAX_RANGE: u32 = 4096;

impl GpuList {
    /// `0,2`, `0-3,6`, `GPU-5e1c…`, `00000000:17:00.0,3`; the error names the bad entry.
    pub fn parse(s: &str) -> Result<GpuList, String> {
        let mut out: Vec<GpuPick> = Vec::new();
        let mut push = |p: GpuPick| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let upper = item.to_ascii_uppercase();
            if upper.starts_with("GPU-") || upper.starts_with("MIG-") {
                if item.len() == 4 || item.chars().any(char::is_whitespace) {
                    return Err(format!("{item:?} is not a GPU UUID like GPU-5e1c…"));
                }
                push(GpuPick::Uuid(item.to_string()));
                continue;
            }
            if item.contains(':') {
                let id = PciBusId::parse(item).ok_or_else(|| {
                    format!(
                        "{item:?} is not a PCI bus id like 00000000:17:00.0, 0000:17:00.0 or 17:00.0"
                    )
                })?;
                push(GpuPick::Pci(item.to_string(), id));
                continue;
            }
            let bad = || {
                format!(
                    "{item:?} is not a GPU index, a range like 0-3, a UUID (GPU-…) \
                     or a PCI bus id (17:00.0)"
                )
            };
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => (
                    a.trim().parse::<u32>().map_err(|_| bad())?,
                    b.trim().parse::<u32>().map_err(|_| bad())?,
                ),
                None => {
                    let i = item.parse::<u32>().map_err(|_| bad())?;
                    (i, i)
                }
            };
            if lo > hi {
                return Err(format!("{item:?}: a range goes up, like {hi}-{lo}"));
            }
            if hi - lo > MAX_RANGE {
                return Err(format!("{item:?}: no box has that many GPUs"));
            }
            for i in lo..=hi {
                push(GpuPick::Index(i));
            }
        }
        if out.is_empty() {
            return Err("no GPU given (an index, a UUID or a PCI bus id)".into());
        }
        Ok(GpuList(out))
    }

    /// The list's indices when it names GPUs by index only (nothing to look up).
    pub fn indices_only(&self) -> Option<Vec<u32>> {
        self.0
            .iter()
            .map(|p| match p {
                GpuPick::Index(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    /// The indices of `snap`'s GPUs the list names, in the list's order, each once; the
    /// error names the first entry no GPU matches and what `snap` has in that entry's terms.
    pub fn resolve(&self, snap: &Snapshot) -> Result<Vec<u32>, NoSuchGpu> {
        let mut out = Vec::new();
        for pick in &self.0 {
            let found = snap.gpus.iter().find(|g| pick.matches(g));
            let Some(g) = found else {
                return Err(NoSuchGpu::new(pick, snap));
            };
            if !out.contains(&g.index) {
                out.push(g.index);
            }
        }
        Ok(out)
    }

    /// Whether one entry names `g`: a selection applied to every sample, by identity.
    pub fn matches(&self, g: &GpuSample) -> bool {
        self.0.iter().any(|p| p.matches(g))
    }

    /// Keeps only the GPUs the list names (the samples after the first, where a GPU that
    /// went away is simply not shown).
    pub fn select(&self, snap: &mut Snapshot) {
        snap.gpus.retain(|g| self.matches(g));
    }
}

impl GpuPick {
    fn matches(&self, g: &GpuSample) -> bool {
        match self {
            GpuPick::Index(i) => g.index == *i,
            GpuPick::Uuid(u) => {
                g.uuid.eq_ignore_ascii_case(u)
                    || g.mig
                        .value()
                        .is_some_and(|m| m.iter().any(|d| d.uuid.eq_ignore_ascii_case(u)))
            }
            GpuPick::Pci(_, id) => g
                .pci_bus_id
                .value()
                .and_then(|s| PciBusId::parse(s))
                .is_some_and(|have| have == *id),
        }
    }
}

/// `-i` named a GPU the snapshot does not have; the message lists what it has.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoSuchGpu(pub String);

impl NoSuchGpu {
    fn new(pick: &GpuPick, snap: &Snapshot) -> NoSuchGpu {
        let join = |v: Vec<String>| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let gpus = &snap.gpus;
        NoSuchGpu(match pick {
            GpuPick::Index(i) => {
                let found = gpus.iter().map(|g| g.index.to_string()).collect();
                format!("no GPU with index {i} (found: {})", join(found))
            }
            GpuPick::Uuid(u) => {
                let mut found: Vec<String> = gpus
                    .iter()
                    .map(|g| format!("{} {}", g.index, g.uuid))
                    .collect();
                for g in gpus {
                    for d in g.mig.value().into_iter().flatten() {
                        found.push(format!("{} {}", g.index, d.uuid));
                    }
                }
                format!("no GPU with UUID {u} (found: {})", join(found))
            }
            GpuPick::Pci(typed, _) => {
                let found = gpus
                    .iter()
                    .map(|g| match g.pci_bus_id.value() {
                        Some(id) => format!("{} {id}", g.index),
                        None => format!("{} (no PCI bus id)", g.index),
                    })
                    .collect();
                format!("no GPU with PCI bus id {typed} (found: {})", join(found))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{Field, MigDevice};

    fn snap() -> Snapshot {
        let mut s = Snapshot::new(0, "h", "test");
        for (i, uuid, pci) in [
            (0, "GPU-aaaa", "00000000:17:00.0"),
            (1, "GPU-bbbb", "00000000:3B:00.0"),
            (2, "GPU-cccc", "0000:ca:00.0"),
        ] {
            s.gpus.push(GpuSample {
                index: i,
                uuid: uuid.into(),
                pci_bus_id: Field::Value(pci.into()),
                ..GpuSample::default()
            });
        }
        s.gpus[2].mig = Field::Value(vec![MigDevice {
            uuid: "MIG-dddd".into(),
            ..MigDevice::default()
        }]);
        s
    }

    fn indices(list: &str) -> Result<Vec<u32>, String> {
        let list = GpuList::parse(list)?;
        list.resolve(&snap()).map_err(|e| e.0)
    }

    #[test]
    fn indices_and_ranges_keep_their_order_once_each() {
        assert_eq!(indices("2,0-1,0"), Ok(vec![2, 0, 1]));
    }

    #[test]
    fn uuids_match_without_regard_to_case_and_mig_devices_name_their_gpu() {
        assert_eq!(indices("gpu-BBBB"), Ok(vec![1]));
        assert_eq!(indices("MIG-dddd,0"), Ok(vec![2, 0]));
    }

    #[test]
    fn every_pci_form_nvidia_smi_knows_matches_either_spelling() {
        for typed in ["00000000:3b:00.0", "0000:3B:00.0", "3b:00.0", "3B:00.0"] {
            assert_eq!(indices(typed), Ok(vec![1]), "{typed}");
        }
        assert_eq!(indices("ca:00.0"), Ok(vec![2]));
        assert_eq!(indices("00000000:CA:00.0,GPU-aaaa,1"), Ok(vec![2, 0, 1]));
    }

    #[test]
    fn an_entry_matching_nothing_names_what_there_is() {
        assert_eq!(
            indices("0,9"),
            Err("no GPU with index 9 (found: 0, 1, 2)".into())
        );
        let err = indices("GPU-ffff").unwrap_err();
        assert!(
            err.starts_with("no GPU with UUID GPU-ffff (found: 0 GPU-aaaa,"),
            "{err}"
        );
        assert!(err.ends_with("2 MIG-dddd)"), "{err}");
        assert_eq!(
            indices("18:00.0"),
            Err(
                "no GPU with PCI bus id 18:00.0 (found: 0 00000000:17:00.0, \
                 1 00000000:3B:00.0, 2 0000:ca:00.0)"
                    .into()
            )
        );
    }

    #[test]
    fn bad_entries_are_named() {
        for (typed, says) in [
            ("x", "\"x\" is not a GPU index"),
            ("3-1", "a range goes up, like 1-3"),
            ("17:00", "is not a PCI bus id"),
            ("1:2:3:00.0", "is not a PCI bus id"),
            ("17:00.9", "is not a PCI bus id"),
            ("GPU-", "is not a GPU UUID"),
            (",", "no GPU given"),
        ] {
            let err = GpuList::parse(typed).unwrap_err();
            assert!(err.contains(says), "{typed}: {err}");
        }
    }
}
