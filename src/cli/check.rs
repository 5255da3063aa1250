//! `gpuwarden check`: one sample, judged once — exit 0 healthy, 1 a finding, 2 cannot tell —
//! for schedulers, node-problem-detector and scripts; `--slurm` also drains and resumes the
//! node. The checks live in `crate::check`; this file is the command line around them.

use super::{Cli, EXIT_FINDING, EXIT_OK};
use crate::check::report::{self, JsonReport, SlurmOutcome};
use crate::check::{self as health, Requirement, slurm};
use crate::gpu::open;
use crate::gpu::sampler::now_ms;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Debug, Default, Args)]
pub struct CheckArgs {
    /// JSON for machines: status, checks run, findings, not_checked (schema in the README)
    #[arg(long, conflicts_with = "brief")]
    pub json: bool,
    /// Exactly one short line on stdout (node-problem-detector's custom plugin protocol)
    #[arg(long)]
    pub brief: bool,
    /// What this node must have: gpus=8, gpus>=8, memory=80GiB, driver>=550,
    /// driver=550.54, pcie=gen5x16 (comma-separated; each unmet item is a finding)
    #[arg(long, value_name = "LIST", value_parser = parse_require)]
    pub require: Option<RequireList>,
    /// For Slurm's HealthCheckProgram: drain the node on a finding (reason `gpuwarden: …`),
    /// resume it when healthy again if gpuwarden drained it
    #[arg(long)]
    pub slurm: bool,
    /// For Slurm's Prolog: never resume the node; a finding exits 1 so Slurm requeues the
    /// job and drains the node (with --slurm, under gpuwarden's own reason)
    #[arg(long)]
    pub prolog: bool,
    /// The Slurm node name (default: SLURMD_NODENAME, else the short host name)
    #[arg(long, value_name = "NAME", requires = "slurm")]
    pub node: Option<String>,
    /// The scontrol to run (default: the one on PATH, else /usr/bin, /usr/local/bin, …)
    #[arg(
        long,
        value_name = "PATH",
        env = "GPUWARDEN_SCONTROL",
        requires = "slurm"
    )]
    pub scontrol: Option<PathBuf>,
    /// A driver that has not answered the sample after this long is a finding (`driver`:
    /// the node is unhealthy), not a check that hangs with it
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub driver_timeout: std::time::Duration,
    /// XIDs the driver logged this recently that ask for a GPU reset, a reboot or a
    /// replacement are findings (`xid`); 0 skips the check
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub xid_window: std::time::Duration,
    /// The kernel log to read XIDs from (a file in /dev/kmsg's record format works too)
    #[arg(long, value_name = "PATH", env = "GPUWARDEN_KMSG", default_value = crate::health::kmsg::DEV_KMSG)]
    pub kmsg: PathBuf,
}

/// The parsed `--require` items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequireList(pub Vec<Requirement>);

fn parse_require(s: &str) -> Result<RequireList, String> {
    health::parse_requirements(s).map(RequireList)
}

pub fn run(cli: &Cli, args: &CheckArgs) -> Result<ExitCode> {
    let (snap, verdict) = match sample(cli, args.driver_timeout) {
        Ok(Some(snap)) => {
            let requirements = args.require.as_ref().map_or(&[][..], |r| &r.0[..]);
            let mut verdict = health::judge(&snap, requirements);
            xids(&snap, args, &mut verdict);
            (snap, verdict)
        }
        Ok(None) => hung(args.driver_timeout),
        Err(err) => {
            // Machines get their own "cannot tell" on stdout; people get the error on stderr.
            print_unknown(args, &format!("{err:#}"))?;
            return Err(err);
        }
    };
    let outcome = if args.slurm {
        match slurm_apply(&verdict, args) {
            Ok(o) => Some(o),
            Err(err) => {
                print_unknown(args, &format!("{err:#}"))?;
                return Err(err);
            }
        }
    } else {
        None
    };
    let out = if args.json {
        let doc = JsonReport::judged(&snap, &verdict, outcome.as_ref());
        format!("{}\n", serde_json::to_string_pretty(&doc)?)
    } else if args.brief {
        format!("{}\n", report::brief(&verdict))
    } else {
        report::text(&verdict, outcome.as_ref())
    };
    write_stdout(&out)?;
    Ok(ExitCode::from(if verdict.healthy() {
        EXIT_OK
    } else {
        EXIT_FINDING
    }))
}

/// The `xid` check, for NVIDIA GPUs read through the driver (not the simulated fleet or a
/// trace, whose GPUs are not this kernel's).
fn xids(snap: &crate::gpu::Snapshot, args: &CheckArgs, v: &mut health::Verdict) {
    let nvidia = snap
        .gpus
        .iter()
        .any(|g| g.vendor == crate::gpu::Vendor::Nvidia);
    if args.xid_window.is_zero() || !nvidia || !snap.source.starts_with("nvml") {
        return;
    }
    match health::xid::read_recent(&args.kmsg, args.xid_window) {
        Ok(logged) => health::xid::judge(snap, &logged, args.xid_window, v),
        Err(err) => health::xid::unreadable(&args.kmsg, &err, v),
    }
    health::sort_findings(v);
}

/// One sample, on a thread of its own: `None` when the driver has not answered within
/// `timeout` (the thread stays stuck in it; the process exits without waiting for it).
fn sample(cli: &Cli, timeout: std::time::Duration) -> Result<Option<crate::gpu::Snapshot>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spec = cli.source.spec();
    let gpus = cli.source.gpu_list().cloned();
    std::thread::Builder::new()
        .name("gpuwarden-check".into())
        .spawn(move || {
            let sampled = (|| {
                let mut source = open::open(&spec)?;
                let mut snap = source.sample(now_ms()).context("taking a sample")?;
                if let Some(gpus) = &gpus {
                    // `-i` naming no GPU is a usage error (exit 2), not a finding.
                    let chosen = gpus.resolve(&snap)?;
                    snap.select(Some(&chosen));
                }
                Ok(snap)
            })();
            let _ = tx.send(sampled);
        })
        .context("starting the sampling thread")?;
    match rx.recv_timeout(timeout) {
        Ok(sampled) => sampled.map(Some),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(None),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            anyhow::bail!("the sampling thread ended without a sample")
        }
    }
}

/// The verdict on a driver that did not answer: one node-wide critical finding.
fn hung(timeout: std::time::Duration) -> (crate::gpu::Snapshot, health::Verdict) {
    let snap = crate::gpu::Snapshot::new(now_ms(), crate::host::hostname(), "nvml");
    let finding = health::Finding {
        target: health::GpuRef::node(),
        check: "driver".into(),
        severity: health::Severity::Critical,
        message: format!(
            "the GPU driver did not answer a sample within {}",
            crate::policy::human_duration(timeout)
        ),
        action: "drain the node; look for a GPU stuck on the bus (XID 79) and reset it or reboot"
            .into(),
    };
    let verdict = health::Verdict {
        checks: vec!["driver".into()],
        findings: vec![finding],
        ..health::Verdict::default()
    };
    (snap, verdict)
}

fn slurm_apply(verdict: &health::Verdict, args: &CheckArgs) -> Result<SlurmOutcome> {
    let node = slurm::node_name(args.node.as_deref());
    let scontrol = slurm::Scontrol::new(slurm::find_scontrol(args.scontrol.as_deref())?);
    slurm::apply(verdict, &node, &scontrol, args.prolog)
        .with_context(|| format!("updating Slurm node {node}"))
}

fn print_unknown(args: &CheckArgs, error: &str) -> Result<()> {
    if args.json {
        let doc = JsonReport::unknown(error.to_string());
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else if args.brief {
        write_stdout(&format!("{}\n", report::brief_unknown(error)))?;
    }
    Ok(())
}

fn write_stdout(s: &str) -> Result<()> {
    std::io::stdout()
        .lock()
        .write_all(s.as_bytes())
        .context("writing to stdout")
}
