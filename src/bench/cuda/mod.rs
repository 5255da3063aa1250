//! Real GPUs through the CUDA driver API (cudarc, `libcuda.so.1` loaded at run time, so the
//! binary builds and starts without a CUDA toolkit or driver).
//!
//! cudarc panics when it cannot load the driver, so [`driver_present`] is asked first.
//! Devices are matched to NVML's indices (the `-i` numbers, as in nvidia-smi) by PCI bus
//! id: CUDA numbers devices fastest-first unless `CUDA_DEVICE_ORDER=PCI_BUS_ID`, NVML in
//! PCI order, so ordinals alone would pair the wrong cards. Without NVML the CUDA devices
//! sorted by PCI address give the same numbering nvidia-smi would.

mod memory;
pub mod worker;

use cudarc::driver::{result, sys};
use std::ffi::CStr;

/// The library cudarc looks for, named in messages.
pub const DRIVER_LIBRARY: &str = "libcuda.so.1";

/// Whether the CUDA driver library can be loaded at all.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the candidate names; loads no symbol.
    unsafe { sys::is_culib_present() }
}

/// The name of a CUDA error code, e.g. `CUDA_ERROR_INVALID_PTX`.
pub fn error_name(e: &result::DriverError) -> String {
    format!("{:?}", e.0)
}

/// A PCI address, comparable across CUDA's `0000:18:00.0` and NVML's `00000000:18:00.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    pub domain: u32,
    pub bus: u32,
    pub device: u32,
    pub function: u32,
}

impl PciAddress {
    /// Parses `DOMAIN:BUS:DEVICE.FUNCTION` in hex, any domain width.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().split(':');
        let (domain, bus, rest) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let (device, function) = rest.split_once('.')?;
        let hex = |x: &str| u32::from_str_radix(x, 16).ok();
        Some(PciAddress {
            domain: hex(domain)?,
            bus: hex(bus)?,
            device: hex(device)?,
            function: hex(function)?,
        })
    }
}

/// A CUDA device found at start.
#[derive(Clone, Debug)]
pub struct CudaDevice {
    pub ordinal: usize,
    pub name: String,
    pub pci: Option<PciAddress>,
}

/// Why the bench cannot run on real GPUs at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CudaUnavailable {
    #[error(
        "no CUDA driver: {DRIVER_LIBRARY} was not found on the library search path\n  \
         hint: install the NVIDIA driver (the CUDA toolkit is not needed), or point \
         LD_LIBRARY_PATH at the directory holding {DRIVER_LIBRARY}; to see the bench \
         without a GPU, run `gpuwarden bench --demo`"
    )]
    NoDriver,
    #[error(
        "the CUDA driver found no usable GPU ({code})\n  hint: check `nvidia-smi`; try `gpuwarden bench --demo` to see the bench without a GPU"
    )]
    NoDevice { code: String },
    #[error(
        "the CUDA driver failed to start ({code})\n  hint: check `nvidia-smi` and `dmesg` for driver errors"
    )]
    Init { code: String },
}

/// The message of a caught panic.
pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
        .to_string()
}

/// Starts the driver and lists its devices, sorted by PCI address.
pub fn discover() -> Result<Vec<CudaDevice>, CudaUnavailable> {
    if !driver_present() {
        return Err(CudaUnavailable::NoDriver);
    }
    // An old or broken libcuda without a symbol cudarc needs makes it panic.
    std::panic::catch_unwind(discover_devices).unwrap_or_else(|panic| {
        Err(CudaUnavailable::Init {
            code: panic_text(panic.as_ref()),
        })
    })
}

fn discover_devices() -> Result<Vec<CudaDevice>, CudaUnavailable> {
    let fail = |e: result::DriverError| {
        let code = error_name(&e);
        if e.0 == sys::cudaError_enum::CUDA_ERROR_NO_DEVICE {
            CudaUnavailable::NoDevice { code }
        } else {
            CudaUnavailable::Init { code }
        }
    };
    result::init().map_err(fail)?;
    let count = result::device::get_count().map_err(fail)?;
    if count <= 0 {
        return Err(CudaUnavailable::NoDevice {
            code: "0 devices".into(),
        });
    }
    let mut out = Vec::new();
    for ordinal in 0..count {
        let dev = result::device::get(ordinal).map_err(fail)?;
        let name = result::device::get_name(dev)
            .unwrap_or_else(|e| format!("CUDA device {ordinal} ({})", error_name(&e)));
        out.push(CudaDevice {
            ordinal: ordinal as usize,
            name,
            pci: pci_bus_id(dev),
        });
    }
    out.sort_by_key(|d| (d.pci.is_none(), d.pci, d.ordinal));
    Ok(out)
}

fn pci_bus_id(dev: sys::CUdevice) -> Option<PciAddress> {
    let mut buf = [0 as std::ffi::c_char; 32];
    // SAFETY: the buffer is large enough for "dddddddd:bb:dd.f" and NUL-terminated by the
    // driver; its length is passed in.
    let rc = unsafe { sys::cuDeviceGetPCIBusId(buf.as_mut_ptr(), buf.len() as i32, dev) };
    if rc != sys::cudaError_enum::CUDA_SUCCESS {
        return None;
    }
    buf[buf.len() - 1] = 0;
    // SAFETY: NUL-terminated above.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    PciAddress::parse(&s.to_string_lossy())
}

/// Gives each CUDA device (sorted by PCI address) its NVML index: the NVML GPU at the same
/// PCI address, else its position in PCI order.
pub fn assign_indices(devices: &[CudaDevice], nvml: &[(u32, Option<String>)]) -> Vec<u32> {
    devices
        .iter()
        .enumerate()
        .map(|(pos, d)| {
            nvml.iter()
                .find(|(_, bus)| {
                    d.pci.is_some() && bus.as_deref().and_then(PciAddress::parse) == d.pci
                })
                .map_or(pos as u32, |(i, _)| *i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_and_nvml_spellings_of_a_pci_address_compare_equal() {
        let cuda = PciAddress::parse("0000:1b:00.0");
        assert_eq!(cuda, PciAddress::parse("00000000:1B:00.0"));
        assert_eq!(cuda.map(|p| p.bus), Some(0x1b));
        assert_eq!(PciAddress::parse("garbage"), None);
        assert_eq!(PciAddress::parse("0000:1b:00"), None);
    }

    #[test]
    fn indices_follow_nvml_by_pci_address_not_cuda_ordinal() {
        let dev = |ordinal, pci: &str| CudaDevice {
            ordinal,
            name: "x".into(),
            pci: PciAddress::parse(pci),
        };
        // CUDA (fastest first) put the card at bus 0x3b first; NVML numbers by bus.
        let devices = [dev(1, "0000:18:00.0"), dev(0, "0000:3b:00.0")];
        let nvml = [
            (0, Some("00000000:18:00.0".to_string())),
            (1, Some("00000000:3B:00.0".to_string())),
        ];
        assert_eq!(assign_indices(&devices, &nvml), vec![0, 1]);
        let swapped = [
            (1, Some("00000000:18:00.0".to_string())),
            (0, Some("00000000:3B:00.0".to_string())),
        ];
        assert_eq!(assign_indices(&devices, &swapped), vec![1, 0]);
        // No NVML: PCI order.
        assert_eq!(assign_indices(&devices, &[]), vec![0, 1]);
    }
}
