//! The line nvidia-smi prints in place of a GPU's row when it cannot reach the GPU:
//! `Unable to determine the device handle for GPU0000:3B:00.0: GPU is lost. Reboot the
//! system to recover this GPU`. A lost GPU becomes a lost sample (the watchdog's `gpu_lost`
//! rules see it) when the trace's `pci.bus_id` column says which GPU sits at that address.

const PREFIX: &str = "Unable to determine the device handle for GPU";

/// The bus address a "device handle" line names, and whether it says the GPU is lost.
pub fn device_handle_line(text: &str) -> Option<(String, bool)> {
    let rest = text.strip_prefix(PREFIX)?.trim_start();
    let (address, reason) = rest.split_once(": ")?;
    Some((bus_key(address), reason.contains("GPU is lost")))
}

/// `00000000:3B:00.0` and `0000:3b:00.0` name the same device: compare bus:device.function.
pub fn bus_key(address: &str) -> String {
    let address = address.trim();
    let tail = address.len().saturating_sub(7);
    address.get(tail..).unwrap_or(address).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_device_handle_line() {
        let line = "Unable to determine the device handle for GPU0000:3b:00.0: GPU is lost. \
                    Reboot the system to recover this GPU";
        assert_eq!(device_handle_line(line), Some(("3B:00.0".into(), true)));
        let other = "Unable to determine the device handle for GPU 0000:3B:00.0: Unknown Error";
        assert_eq!(device_handle_line(other), Some(("3B:00.0".into(), false)));
        assert_eq!(bus_key("00000000:3B:00.0"), "3B:00.0");
        assert_eq!(device_handle_line("0, 45"), None);
    }
}
