//! Every file the AMD source reads or writes goes through [`Sysfs`], so tests can record the
//! exact writes as data, refuse a file with `EACCES` (tests run as root, where `chmod 000`
//! does not stop a read) and check that a tree ends as it began.
//!
//! Also here: how an I/O error or a bad value becomes the [`Missing`] reason of a field —
//! a missing file is `not_supported`, `EACCES`/`EPERM` is `no_permission`, anything else
//! (an unparsable value, `EIO`) is `error`, logged with the file and what it held.
//!
//! The Intel source reads sysfs through the same trait and shares what both vendors do
//! alike: [`control_error`] for a failed cap write, [`with_lost_cards`] / [`lost_card`] for a
//! card that vanished.

use crate::gpu::field::{Field, Missing};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Reads and writes sysfs attributes.
pub trait Sysfs: Send + Sync {
    /// The whole content of an attribute.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Writes `value` to an attribute (one `write(2)`, as the kernel expects).
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    /// The entries of a directory (full paths).
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealSysfs;

impl Sysfs for RealSysfs {
    fn read(&self, path: &Path) -> io::Result<String> {
        let bytes = fs::read(path)?;
        // Some attributes carry trailing NULs; they are never part of a value.
        Ok(String::from_utf8_lossy(&bytes)
            .trim_end_matches('\0')
            .to_string())
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        use std::io::Write;
        // Never create: an attribute that is not there is not supported.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)?;
        file.write_all(value.as_bytes())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            out.push(entry?.path());
        }
        out.sort();
        Ok(out)
    }
}

/// The reason a read failed, in the model's words.
pub fn missing_for(err: &io::Error) -> Missing {
    match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::Unsupported => Missing::NotSupported,
        io::ErrorKind::PermissionDenied => Missing::NoPermission,
        _ => match err.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENODATA) => Missing::NotSupported,
            Some(libc::EPERM) | Some(libc::EACCES) => Missing::NoPermission,
            _ => Missing::Error,
        },
    }
}

/// Reads one attribute as trimmed text, or the reason it cannot be read.
pub fn read_text(fs: &dyn Sysfs, path: &Path) -> Field<String> {
    match fs.read(path) {
        Ok(s) => Field::Value(s.trim().to_string()),
        Err(e) => {
            let why = missing_for(&e);
            if why == Missing::Error {
                tracing::debug!("reading {}: {e}", path.display());
            }
            Field::missing(why)
        }
    }
}

/// Reads one attribute and parses it with `parse`; an unparsable value is `error`.
pub fn read_parsed<T>(
    fs: &dyn Sysfs,
    path: &Path,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Field<T> {
    match read_text(fs, path) {
        Field::Value(text) => match parse(&text) {
            Some(v) => Field::Value(v),
            None => {
                tracing::debug!("{}: cannot parse {text:?}", path.display());
                Field::missing(Missing::Error)
            }
        },
        Field::Missing { missing } => Field::missing(missing),
    }
}

/// Reads an unsigned integer attribute (`gpu_busy_percent`, `power1_cap`, …).
pub fn read_u64(fs: &dyn Sysfs, path: &Path) -> Field<u64> {
    read_parsed(fs, path, |s| s.parse().ok())
}

/// Reads a signed integer attribute (temperatures in millidegrees can be negative).
pub fn read_i64(fs: &dyn Sysfs, path: &Path) -> Field<i64> {
    read_parsed(fs, path, |s| s.parse().ok())
}

/// An I/O error on a control file (a clock or power cap write, the read before it) as the
/// watchdog's reason: a missing file is `NotSupported`, `EACCES`/`EPERM` `NoPermission`,
/// anything else names the file and the value. Shared by every sysfs vendor.
pub fn control_error(
    err: &io::Error,
    path: &Path,
    value: Option<&str>,
) -> crate::gpu::ControlError {
    use crate::gpu::ControlError;
    match err.kind() {
        io::ErrorKind::NotFound => ControlError::NotSupported,
        io::ErrorKind::PermissionDenied => ControlError::NoPermission,
        _ if err.raw_os_error() == Some(libc::EPERM) => ControlError::NoPermission,
        _ => ControlError::Other(match value {
            Some(v) => format!("writing {v:?} to {}: {err}", path.display()),
            None => format!("reading {}: {err}", path.display()),
        }),
    }
}

/// The cards a sysfs vendor found this sample, plus a `lost` sample for every card it listed
/// before (`indexed`, by index) that is gone — identity, index, last known name and the PCI
/// address its UUID carries (`pci_of`) kept — in index order.
pub fn with_lost_cards(
    mut gpus: Vec<crate::gpu::GpuSample>,
    indexed: &[String],
    last_names: &std::collections::BTreeMap<String, String>,
    vendor: crate::gpu::Vendor,
    pci_of: fn(&str) -> Option<&str>,
) -> Vec<crate::gpu::GpuSample> {
    for (i, uuid) in indexed.iter().enumerate() {
        if !gpus.iter().any(|g| &g.uuid == uuid) {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            gpus.push(lost_card(index, uuid, last_names.get(uuid), vendor, pci_of));
        }
    }
    gpus.sort_by_key(|g| g.index);
    gpus
}

/// A lost sysfs card: identity, index, last known name and the PCI address its UUID carries
/// kept, every metric `gpu_lost`.
pub fn lost_card(
    index: u32,
    uuid: &str,
    name: Option<&String>,
    vendor: crate::gpu::Vendor,
    pci_of: fn(&str) -> Option<&str>,
) -> crate::gpu::GpuSample {
    let mut lost = crate::gpu::GpuSample::lost(index, uuid, vendor);
    if let Some(name) = name {
        lost.name = Field::Value(name.clone());
    }
    lost.pci_bus_id = pci_of(uuid).map_or(Field::missing(Missing::GpuLost), |a| {
        Field::Value(a.to_string())
    });
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_reasons() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(missing_for(&e), Missing::NotSupported);
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(missing_for(&e), Missing::NoPermission);
        let e = io::Error::from_raw_os_error(libc::EPERM);
        assert_eq!(missing_for(&e), Missing::NoPermission);
        let e = io::Error::from_raw_os_error(libc::EOPNOTSUPP);
        assert_eq!(missing_for(&e), Missing::NotSupported);
        let e = io::Error::from_raw_os_error(libc::EIO);
        assert_eq!(missing_for(&e), Missing::Error);
    }

    #[test]
    fn garbage_is_an_error_and_a_missing_file_not_supported() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("busy"), "lots\n").unwrap();
        fs::write(dir.path().join("ok"), "42\n\0").unwrap();
        let real = RealSysfs;
        assert_eq!(
            read_u64(&real, &dir.path().join("busy")).why(),
            Some(Missing::Error)
        );
        assert_eq!(read_u64(&real, &dir.path().join("ok")).get(), Some(42));
        assert_eq!(
            read_u64(&real, &dir.path().join("nope")).why(),
            Some(Missing::NotSupported)
        );
    }

    #[test]
    fn writes_never_create_files() {
        let dir = tempfile::tempdir().unwrap();
        let err = RealSysfs
            .write(&dir.path().join("power1_cap"), "1")
            .unwrap_err();
        assert_eq!(missing_for(&err), Missing::NotSupported);
        assert!(!dir.path().join("power1_cap").exists());
    }
}
