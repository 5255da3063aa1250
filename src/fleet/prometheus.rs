//! The Prometheus fleet source: one Prometheus server that scrapes gpuwarden exporters or
//! NVIDIA's dcgm-exporter becomes per-host snapshots.
//!
//! Three instant queries per refresh, whatever the fleet size: the GPU series (gpuwarden's
//! and dcgm-exporter's names in one selector), their timestamps (how old each host's numbers
//! are) and `up` (which scrape targets are down). Hosts are keyed by the `instance` label; a
//! target that is down is reported as unreachable, not dropped. dcgm-exporter's units are
//! converted to the model's (MiB → bytes; total memory = used + free + reserved).

use super::promql::{Series, query};
use super::{FiringRule, FleetSource, HostData, HostReport, XidSeen};
use crate::gpu::{Field, GpuSample, GpuStatus, Snapshot, ThrottleReason, ThrottleReasons, UnixMs};
use crate::http_client::{ClientTls, TlsFileError, system_agent};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// The GPU series the source understands (gpuwarden's and dcgm-exporter's) in one selector.
/// Throttle reasons and rule states are asked for separately, only where they are 1: a
/// 1,000-GPU fleet has 9,000 throttle series, nearly all 0.
pub const SELECTOR: &str = concat!(
    r#"{__name__=~"gpuwarden_gpu_(info|lost|temperature_celsius|slowdown_temperature_celsius"#,
    r#"|shutdown_temperature_celsius|memory_used_bytes|memory_total_bytes|utilization_ratio"#,
    r#"|memory_utilization_ratio|power_watts|power_limit_watts|sm_clock_hertz|sm_clock_max_hertz"#,
    r#"|memory_clock_hertz|memory_clock_max_hertz|fan_speed_ratio|performance_state"#,
    r#"|ecc_uncorrected_errors_total|xid_errors_total)"#,
    r#"|DCGM_FI_DEV_(GPU_TEMP|FB_USED|FB_FREE|FB_RESERVED|GPU_UTIL|MEM_COPY_UTIL|POWER_USAGE"#,
    r#"|POWER_MGMT_LIMIT|SM_CLOCK|MEM_CLOCK|FAN_SPEED|XID_ERRORS|ECC_DBE_VOL_TOTAL)"}"#
);

/// Active throttle reasons and firing watchdog rules (comparisons keep the metric name).
const ACTIVE: &str = concat!(
    r#"gpuwarden_gpu_throttle_reason == 1"#,
    r#" or gpuwarden_watchdog_rule_state{state="firing"} == 1"#
);

/// GPUs that report throttle reasons at all (so "none active" differs from "not known").
const THROTTLE_KNOWN: &str = "count by (instance, job, gpu, uuid) (gpuwarden_gpu_throttle_reason)";

/// How fresh each host's numbers are.
const FRESHNESS: &str =
    "max by (instance) (timestamp(gpuwarden_gpu_lost) or timestamp(DCGM_FI_DEV_GPU_TEMP))";

/// The answers of one refresh's queries.
#[derive(Debug, Default)]
pub struct Answers {
    /// [`SELECTOR`] and [`ACTIVE`] series.
    pub values: Vec<Series>,
    pub throttle_known: Vec<Series>,
    /// Newest sample time per `instance`, in seconds.
    pub freshness: Vec<Series>,
    pub up: Vec<Series>,
}

const MIB: f64 = 1024.0 * 1024.0;

/// Reads a fleet from the Prometheus at `url`.
pub struct PrometheusSource {
    url: String,
    agent: ureq::Agent,
    timeout: Duration,
}

impl PrometheusSource {
    /// `url` is `http://` or `https://` (the system's roots are trusted).
    pub fn new(url: &str, timeout: Duration) -> Self {
        PrometheusSource {
            url: url.trim_end_matches('/').to_string(),
            agent: system_agent(timeout, timeout),
            timeout,
        }
    }

    /// The same source trusting (and presenting) what `tls` says.
    pub fn with_tls(mut self, tls: &ClientTls) -> Result<Self, TlsFileError> {
        self.agent = tls.agent(self.timeout, self.timeout)?;
        Ok(self)
    }
}

impl FleetSource for PrometheusSource {
    fn fetch(&mut self, now_ms: UnixMs) -> Vec<HostReport> {
        let exprs = [SELECTOR, ACTIVE, THROTTLE_KNOWN, FRESHNESS, "up"];
        let mut answers: Vec<Result<Vec<Series>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = exprs
                .iter()
                .map(|e| s.spawn(|| query(&self.agent, &self.url, e)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("query thread panicked".into()))
                })
                .collect()
        });
        if let Some(Err(e)) = answers.iter().find(|a| a.is_err()) {
            return vec![HostReport {
                address: self.url.clone(),
                result: Err(format!("prometheus unreachable: {e}")),
            }];
        }
        let mut take =
            |i: usize| std::mem::replace(&mut answers[i], Ok(Vec::new())).unwrap_or_default();
        let mut values = take(0);
        values.extend(take(1));
        let a = Answers {
            values,
            throttle_known: take(2),
            freshness: take(3),
            up: take(4),
        };
        build(&a, now_ms)
    }
}

#[derive(Default)]
struct HostAcc {
    name: Option<String>,
    gpus: BTreeMap<String, GpuSample>,
    fb: BTreeMap<String, [Option<f64>; 3]>,
    firing: Vec<FiringRule>,
    xids: Vec<XidSeen>,
    newest_s: f64,
}

/// Builds one report per host from the answers of one refresh.
pub fn build(answers: &Answers, now_ms: UnixMs) -> Vec<HostReport> {
    let mut hosts: BTreeMap<String, HostAcc> = BTreeMap::new();
    let mut jobs = HashSet::new();
    for s in &answers.throttle_known {
        let acc = hosts.entry(s.label("instance").to_string()).or_default();
        let g = gpu_of(acc, s, "uuid");
        if g.throttle.value().is_none() {
            g.throttle = ThrottleReasons::NONE.into();
        }
    }
    for s in &answers.values {
        jobs.insert(s.label("job").to_string());
        let acc = hosts.entry(s.label("instance").to_string()).or_default();
        if s.name().starts_with("DCGM_") {
            dcgm(acc, s);
        } else {
            gpuwarden(acc, s);
        }
    }
    for s in &answers.freshness {
        if let Some(acc) = hosts.get_mut(s.label("instance")) {
            acc.newest_s = acc.newest_s.max(s.value);
        }
    }
    let mut reports = Vec::with_capacity(hosts.len());
    let mut down = HashSet::new();
    for s in &answers.up {
        if s.value == 0.0 && jobs.contains(s.label("job")) {
            down.insert(s.label("instance").to_string());
        }
    }
    for (instance, mut acc) in hosts {
        for (key, [used, free, reserved]) in &acc.fb {
            if let (Some(g), Some(used), Some(free)) = (acc.gpus.get_mut(key), used, free) {
                g.memory_total_bytes =
                    (((used + free + reserved.unwrap_or(0.0)) * MIB) as u64).into();
            }
        }
        let at_ms = if acc.newest_s > 0.0 {
            (acc.newest_s * 1000.0) as u64
        } else {
            now_ms
        };
        let mut snap = Snapshot::new(
            at_ms,
            acc.name.take().unwrap_or_else(|| instance.clone()),
            "prometheus",
        );
        snap.gpus = acc.gpus.into_values().collect();
        snap.gpus.sort_by_key(|g| g.index);
        let result = if down.remove(&instance) {
            Err("scrape target is down (up == 0)".to_string())
        } else {
            Ok(HostData {
                snapshot: snap,
                firing: acc.firing,
                xids: acc.xids,
            })
        };
        reports.push(HostReport {
            address: instance,
            result,
        });
    }
    // Targets that are down and left no series in the lookback window.
    let mut rest: Vec<String> = down.into_iter().collect();
    rest.sort();
    for instance in rest {
        reports.push(HostReport {
            address: instance,
            result: Err("scrape target is down (up == 0)".to_string()),
        });
    }
    reports
}

/// The GPU a series belongs to (created on first sight), keyed by UUID or index.
fn gpu_of<'a>(acc: &'a mut HostAcc, s: &Series, uuid_label: &str) -> &'a mut GpuSample {
    let uuid = s.label(uuid_label);
    let gpu = s.label("gpu");
    let key = if uuid.is_empty() { gpu } else { uuid };
    // Look up by borrowed key first: a 1,000-GPU refresh touches ~30,000 series.
    if !acc.gpus.contains_key(key) {
        acc.gpus.insert(
            key.to_string(),
            GpuSample {
                index: gpu.parse().unwrap_or(0),
                uuid: uuid.to_string(),
                ..GpuSample::default()
            },
        );
    }
    acc.gpus
        .get_mut(key)
        .expect("inserted just above when missing")
}

fn pct(v: f64) -> Field<u32> {
    ((v * 100.0).round().max(0.0) as u32).into()
}

fn gpuwarden(acc: &mut HostAcc, s: &Series) {
    let v = s.value;
    let name = s.name();
    if name == "gpuwarden_watchdog_rule_state" {
        if s.label("state") == "firing" && v == 1.0 {
            acc.firing.push(FiringRule {
                gpu: s.label("gpu").parse().ok(),
                uuid: s.label("uuid").to_string(),
                rule: s.label("rule").to_string(),
            });
        }
        return;
    }
    if name == "gpuwarden_gpu_xid_errors_total" {
        if let Ok(code) = s.label("code").parse() {
            acc.xids.push(XidSeen {
                uuid: s.label("uuid").to_string(),
                code,
                count: Some(v as u64),
            });
        }
        return;
    }
    let g = gpu_of(acc, s, "uuid");
    let model = s.label("model");
    if !model.is_empty() && g.name.value().is_none() {
        g.name = model.to_string().into();
    }
    let mhz = |hz: f64| Field::Value((hz / 1e6).round() as u32);
    match name.strip_prefix("gpuwarden_gpu_").unwrap_or("") {
        "info" => {
            if !s.label("driver_version").is_empty() {
                g.driver_version = s.label("driver_version").to_string().into();
            }
            if !s.label("pci_bus_id").is_empty() {
                g.pci_bus_id = s.label("pci_bus_id").to_string().into();
            }
        }
        "lost" if v == 1.0 => g.status = GpuStatus::Lost,
        "temperature_celsius" => g.temperature_c = v.into(),
        "slowdown_temperature_celsius" => g.temperature_slowdown_c = v.into(),
        "shutdown_temperature_celsius" => g.temperature_shutdown_c = v.into(),
        "memory_used_bytes" => g.memory_used_bytes = (v as u64).into(),
        "memory_total_bytes" => g.memory_total_bytes = (v as u64).into(),
        "utilization_ratio" => g.utilization_gpu_pct = pct(v),
        "memory_utilization_ratio" => g.utilization_memory_pct = pct(v),
        "power_watts" => g.power_w = v.into(),
        "power_limit_watts" => g.power_limit_w = v.into(),
        "sm_clock_hertz" => g.clock_sm_mhz = mhz(v),
        "sm_clock_max_hertz" => g.clock_sm_max_mhz = mhz(v),
        "memory_clock_hertz" => g.clock_mem_mhz = mhz(v),
        "memory_clock_max_hertz" => g.clock_mem_max_mhz = mhz(v),
        "fan_speed_ratio" => g.fan_pct = pct(v),
        "performance_state" => g.pstate = (v as u32).into(),
        "ecc_uncorrected_errors_total" => g.ecc_uncorrected = (v as u64).into(),
        "throttle_reason" => {
            let mut set = g.throttle.get().unwrap_or(ThrottleReasons::NONE);
            if let Some(r) = ThrottleReason::from_name(s.label("reason"))
                && v == 1.0
            {
                set = set.with(r);
            }
            g.throttle = set.into();
        }
        _ => {}
    }
}

fn dcgm(acc: &mut HostAcc, s: &Series) {
    let v = s.value;
    let hostname = s.label("Hostname");
    if !hostname.is_empty() && acc.name.is_none() {
        acc.name = Some(hostname.to_string());
    }
    let name = s
        .name()
        .strip_prefix("DCGM_FI_DEV_")
        .unwrap_or("")
        .to_string();
    let model = s.label("modelName").to_string();
    let driver = s.label("DCGM_FI_DRIVER_VERSION").to_string();
    let pci = s.label("pci_bus_id").to_string();
    let uuid = s.label("UUID").to_string();
    let key = if uuid.is_empty() {
        s.label("gpu").to_string()
    } else {
        uuid.clone()
    };
    if name == "XID_ERRORS" && v > 0.0 {
        acc.xids.push(XidSeen {
            uuid,
            code: v as u32,
            count: None,
        });
    }
    let fb_slot = match name.as_str() {
        "FB_USED" => Some(0),
        "FB_FREE" => Some(1),
        "FB_RESERVED" => Some(2),
        _ => None,
    };
    if let Some(i) = fb_slot {
        acc.fb.entry(key).or_default()[i] = Some(v);
    }
    let g = gpu_of(acc, s, "UUID");
    if !model.is_empty() {
        g.name = model.into();
    }
    if !driver.is_empty() {
        g.driver_version = driver.into();
    }
    if !pci.is_empty() {
        g.pci_bus_id = pci.into();
    }
    match name.as_str() {
        "GPU_TEMP" => g.temperature_c = v.into(),
        "FB_USED" => g.memory_used_bytes = ((v * MIB) as u64).into(),
        "GPU_UTIL" => g.utilization_gpu_pct = (v.round() as u32).into(),
        "MEM_COPY_UTIL" => g.utilization_memory_pct = (v.round() as u32).into(),
        "POWER_USAGE" => g.power_w = v.into(),
        "POWER_MGMT_LIMIT" => g.power_limit_w = v.into(),
        "SM_CLOCK" => g.clock_sm_mhz = (v.round() as u32).into(),
        "MEM_CLOCK" => g.clock_mem_mhz = (v.round() as u32).into(),
        "FAN_SPEED" => g.fan_pct = (v.round() as u32).into(),
        "ECC_DBE_VOL_TOTAL" => g.ecc_uncorrected = (v as u64).into(),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
