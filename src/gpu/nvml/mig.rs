//! The MIG devices of a GPU in MIG mode: UUID (`MIG-…`), profile, memory and utilization
//! where the driver gives it, and which of the GPU's processes runs on which device.
//!
//! NVML lists a MIG device's processes on its own handle; each is marked with the device's
//! UUID in the GPU's process list, and added to it when the GPU's own list lacks it.

use super::{DeviceReader, ProcessDescriptions};
use crate::gpu::field::Field;
use crate::gpu::model::{GpuProcess, MigDevice};
use nvml_wrapper::Device;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;

impl DeviceReader<'_> {
    /// `not_supported` on GPUs without MIG, empty with MIG mode off.
    /// `mig_enabled` is the GPU's MIG mode as this sample read it.
    pub(super) fn mig_devices(
        &mut self,
        mig_enabled: &Field<bool>,
        processes: &mut Field<Vec<GpuProcess>>,
        described: &mut ProcessDescriptions,
    ) -> Field<Vec<MigDevice>> {
        let on = match mig_enabled {
            Field::Value(on) => *on,
            Field::Missing { missing } => return Field::missing(*missing),
        };
        if !on {
            return Field::Value(Vec::new());
        }
        let slots = match self.get("mig device count", |d| d.mig_device_count()) {
            Field::Value(n) => n,
            Field::Missing { missing } => return Field::missing(missing),
        };
        let mut out = Vec::new();
        for slot in 0..slots {
            let device = match self.get("mig device", |d| d.mig_device_by_index(slot)) {
                Field::Value(d) => d,
                // An empty slot: no instance was made there.
                Field::Missing { .. } => continue,
            };
            let Ok(uuid) = device.uuid() else { continue };
            let memory = field(device.memory_info());
            out.push(MigDevice {
                profile: field(device.name()).map(|n| profile(&n)),
                memory_used_bytes: memory.as_ref().map(|m| m.used),
                memory_total_bytes: memory.map(|m| m.total),
                utilization_gpu_pct: field(device.utilization_rates()).map(|u| u.gpu),
                uuid: uuid.clone(),
            });
            attribute(&device, &uuid, processes, described);
        }
        Field::Value(out)
    }
}

/// Marks the processes NVML lists on one MIG device with its UUID.
fn attribute(
    device: &Device<'_>,
    uuid: &str,
    processes: &mut Field<Vec<GpuProcess>>,
    described: &mut ProcessDescriptions,
) {
    // No table to mark (kept from an earlier read, or the GPU's lists failed): no call.
    let Field::Value(procs) = processes else {
        return;
    };
    let Ok(listed) = device.running_compute_processes() else {
        return;
    };
    for info in listed {
        if let Some(p) = procs.iter_mut().find(|p| p.pid == info.pid) {
            p.mig_uuid = Some(uuid.to_string());
            continue;
        }
        let mut p = GpuProcess {
            pid: info.pid,
            used_memory_bytes: match info.used_gpu_memory {
                UsedGpuMemory::Used(b) => Some(b),
                UsedGpuMemory::Unavailable => None,
            },
            mig_uuid: Some(uuid.to_string()),
            ..GpuProcess::default()
        };
        described.describe(&mut p);
        procs.push(p);
    }
}

/// A MIG device's profile from its name: `NVIDIA H100 80GB HBM3 MIG 3g.40gb` → `3g.40gb`.
fn profile(name: &str) -> String {
    name.rsplit_once(" MIG ")
        .map_or(name, |(_, p)| p)
        .trim()
        .to_string()
}

/// A call on a MIG device, its error as the field's reason.
fn field<T>(r: Result<T, NvmlError>) -> Field<T> {
    r.map_or_else(|e| Field::missing(super::reason(&e)), Field::Value)
}

#[cfg(test)]
mod tests {
    #[test]
    fn profiles_come_from_the_name() {
        assert_eq!(
            super::profile("NVIDIA H100 80GB HBM3 MIG 3g.40gb"),
            "3g.40gb"
        );
        assert_eq!(super::profile("NVIDIA A100-SXM4-40GB MIG 1g.5gb"), "1g.5gb");
        assert_eq!(super::profile("odd"), "odd");
    }
}
