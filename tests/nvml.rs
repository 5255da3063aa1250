//! The NVML source against a fake `libnvidia-ml.so.1` built from `tests/fake_nvml/`:
//! values, reasons for missing fields, lost GPUs, control setters, XID event sets, the CLI on
//! top of it, the owners of processes in real cgroups, MIG devices, `-i` by UUID and PCI bus
//! id, and the snapshot schema document.

#[path = "support/fake_nvml.rs"]
mod fake_nvml;

#[path = "nvml/bus.rs"]
mod bus;
#[path = "nvml/calls.rs"]
mod calls;
#[path = "nvml/cli.rs"]
mod cli;
#[path = "nvml/control.rs"]
mod control;
#[path = "nvml/events.rs"]
mod events;
#[path = "nvml/memory.rs"]
mod memory;
#[path = "nvml/mig.rs"]
mod mig;
#[path = "nvml/owners.rs"]
mod owners;
#[path = "nvml/pcie.rs"]
mod pcie;
#[path = "nvml/processes.rs"]
mod processes;
#[path = "nvml/schema_doc.rs"]
mod schema_doc;
#[path = "nvml/select.rs"]
mod select;
#[path = "nvml/source.rs"]
mod source;
