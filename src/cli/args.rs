//! What the user can type: global options shared by every command, and one struct per
//! subcommand. `--help` is the first documentation most users read, so it teaches.

pub use super::check_config::CheckConfigArgs;
use super::examples;
use crate::gpu::multi::VendorChoice;
use crate::gpu::open::SourceSpec;
pub use crate::gpu::select::GpuList;
use crate::gpu::sim::Scenario;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// The `--help` heading of [`SourceArgs`]: which GPUs, read from where.
pub const SOURCE_HEADING: &str = "GPU source options";
/// The `--help` heading of [`CommonArgs`].
pub const GLOBAL_HEADING: &str = "Global options";

#[derive(Clone, Debug, Parser)]
#[command(
    name = "gpuwarden",
    version,
    about = "Look at, guard and prove GPUs: a dashboard, a watchdog and a verifying burn",
    long_about = "Look at, guard and prove GPUs.\n\n\
        With no command, shows the terminal dashboard (`gpuwarden top`).\n\
        Try it without a GPU: `gpuwarden --demo`.\n\n\
        Exit codes: 0 ok, 1 a finding (failed GPU, invalid config), 2 usage or environment error.",
    after_help = examples::GPUWARDEN
)]
pub struct Cli {
    /// The dashboard's own options, for the bare command (`gpuwarden --config …` is
    /// `gpuwarden top --config …`); first, so `--help` lists them first, under no heading.
    #[command(flatten)]
    pub top: TopArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Where samples come from and which GPUs; the same for every command, so `--help` lists
/// them under their own heading after the command's own options.
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = SOURCE_HEADING)]
pub struct SourceArgs {
    /// Use the built-in simulated fleet instead of real GPUs
    #[arg(long, global = true)]
    pub demo: bool,
    /// Number of simulated GPUs
    #[arg(long, global = true, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub demo_gpus: u32,
    /// Seed of the simulated fleet (same seed, same fleet)
    #[arg(long, global = true, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// What the simulated fleet does: mixed, idle, training, overheat, leak, lost
    #[arg(long, global = true, default_value = "mixed", value_name = "NAME")]
    pub scenario: Scenario,
    /// Path to libnvidia-ml.so.1 (default: the system's loader search path)
    #[arg(long, global = true, env = "GPUWARDEN_NVML_LIB", value_name = "PATH")]
    pub nvml_lib: Option<PathBuf>,
    /// Which GPUs: nvidia, amd, intel, or all (every vendor found)
    #[arg(long, global = true, default_value = "all", value_name = "VENDOR")]
    pub vendor: VendorChoice,
    /// Read AMD and Intel cards from this sysfs tree instead of /sys (a recorded tree holding
    /// card*/device works too)
    #[arg(long, global = true, env = "GPUWARDEN_SYSFS_ROOT", value_name = "DIR")]
    pub sysfs_root: Option<PathBuf>,
    /// Where the kubelet keeps pod logs (`<namespace>_<name>_<uid>` directories), which name
    /// the pods owning GPU processes [default: /var/log/pods]
    #[arg(long, global = true, env = "GPUWARDEN_POD_LOGS", value_name = "DIR")]
    pub pod_logs: Option<PathBuf>,
    /// Only these GPUs, as nvidia-smi -i names them: indices and ranges, UUIDs, PCI bus ids,
    /// mixed (`-i 0,2`, `-i 0-3,6`, `-i GPU-5e1c…,3b:00.0`)
    #[arg(
        short = 'i',
        long = "gpus",
        global = true,
        value_name = "LIST",
        value_parser = parse_gpu_list
    )]
    pub gpus: Option<GpuList>,
}

/// The columns `--csv=…` asked for, by index into the full list; empty for all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CsvFields(pub Vec<usize>);

/// `index,temperature_c`: each a column of `snapshot --csv`; the error lists them.
pub fn parse_csv_fields(s: &str) -> Result<CsvFields, String> {
    use super::snapshot::CSV_COLUMNS;
    s.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            CSV_COLUMNS
                .iter()
                .position(|c| *c == f)
                .ok_or_else(|| format!("no CSV column {f:?} (columns: {})", CSV_COLUMNS.join(",")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CsvFields)
}

/// `-i`: indices, ranges, UUIDs and PCI bus ids (see [`GpuList::parse`]).
pub fn parse_gpu_list(s: &str) -> Result<GpuList, String> {
    GpuList::parse(s)
}

impl SourceArgs {
    /// The GPUs `-i` selects, if it was given.
    pub fn gpu_list(&self) -> Option<&GpuList> {
        self.gpus.as_ref()
    }

    pub fn spec(&self) -> SourceSpec {
        if self.demo {
            SourceSpec::demo(self.demo_gpus, self.seed, self.scenario)
        } else {
            SourceSpec {
                demo: None,
                nvml_lib: self.nvml_lib.clone(),
                vendor: self.vendor,
                sysfs_root: self.sysfs_root.clone(),
                pod_logs: self.pod_logs.clone(),
                cadence: crate::gpu::cadence::Cadence::EVERY_SAMPLE,
            }
        }
    }
}

/// Options every command understands (listed last in `--help`).
#[derive(Clone, Debug, Args)]
#[command(next_help_heading = GLOBAL_HEADING)]
pub struct CommonArgs {
    /// Time between samples (floor 100ms), e.g. 500ms, 2s. For `watch`, given here it
    /// overrides `[watchdog] interval` of the config (which applies when it is not given)
    #[arg(long, global = true, default_value = "1s", value_parser = parse_interval, value_name = "DURATION")]
    pub interval: Duration,
    /// No colors (also when NO_COLOR is set)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More log output on stderr (-v info, -vv debug); GPUWARDEN_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl CommonArgs {
    /// Colors are off with `--no-color` or a non-empty `NO_COLOR` (no-color.org).
    pub fn color(&self) -> bool {
        !self.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }
}

/// Whether `--interval` was typed, not defaulted: its default must not pass for the period of
/// a trace (`replay`) nor override `[watchdog] interval` (`watch`).
pub fn interval_given() -> bool {
    use clap::CommandFactory;
    use clap::parser::ValueSource;
    let Ok(matches) = Cli::command().try_get_matches_from(std::env::args_os()) else {
        return false;
    };
    let typed = |m: &clap::ArgMatches| {
        m.try_get_raw("interval").is_ok()
            && m.value_source("interval") == Some(ValueSource::CommandLine)
    };
    typed(&matches) || matches.subcommand().is_some_and(|(_, sub)| typed(sub))
}

/// Parses a humane duration and enforces the 100 ms floor.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 500ms, 1s, 2s)"))?;
    if d < Duration::from_millis(100) {
        return Err(format!("{s} is below the 100ms floor"));
    }
    Ok(d)
}

#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// The terminal dashboard (the default command)
    #[command(after_help = examples::TOP)]
    Top(TopArgs),
    /// One sample of every GPU, as a table, JSON or CSV
    #[command(after_help = examples::SNAPSHOT)]
    Snapshot(SnapshotArgs),
    /// Exporter mode: sample and serve /metrics and the JSON API over HTTP, nothing else
    #[command(after_help = examples::SERVE)]
    Serve(ServeArgs),
    /// One-shot node health: exit 0 healthy, 1 a finding, 2 cannot tell (for Slurm,
    /// node-problem-detector and scripts)
    ///
    /// Checks every GPU for: lost, uncorrected ECC errors, slowdown throttling, temperature at
    /// its slowdown threshold; `--require gpus=8,memory=80GiB,driver>=550` adds what the node
    /// must have; `--brief` prints one line for node-problem-detector.
    #[command(after_help = examples::CHECK)]
    Check(super::check::CheckArgs),
    /// Check a watchdog.toml and summarize its policy (exit 1 if invalid; for ExecStartPre=)
    #[command(after_help = examples::CHECK_CONFIG)]
    CheckConfig(CheckConfigArgs),
    /// The watchdog daemon: thresholds → clock caps → unit restarts → alerts
    ///
    /// Try it without a GPU: `gpuwarden watch --demo --scenario overheat --dry-run
    /// --config watchdog.toml --state-dir /tmp/gw`.
    #[command(after_help = examples::WATCH)]
    Watch(WatchArgs),
    /// Burn every selected GPU, check every result and judge each GPU (PASS/WARN/FAIL)
    #[command(after_help = examples::BENCH)]
    Bench(super::bench::BenchArgs),
    /// Record samples as a trace (compact and zstd-compressed for FILE.jsonl.zst), for `replay` and `top --trace`
    #[command(after_help = examples::RECORD)]
    Record(super::record::RecordArgs),
    /// What the watchdog would have done on a recorded trace (nothing is actuated)
    #[command(after_help = examples::REPLAY)]
    Replay(super::replay::ReplayArgs),
    /// Tell the running watchdog to try again: firing rules that stopped restarting (budget
    /// spent, restarts did not help) get their restart budget back
    ///
    /// Talks to `gpuwarden watch` over `control.sock` in its state directory (root only).
    #[command(after_help = examples::RESET)]
    Reset(super::reset::ResetArgs),
    /// Shell completion script on stdout (for packages)
    #[command(hide = true)]
    Completions(super::docs::CompletionsArgs),
    /// The man page, gpuwarden(1), as roff on stdout (for packages)
    #[command(hide = true)]
    Man,
}

impl Default for Command {
    fn default() -> Self {
        Command::Top(TopArgs::default())
    }
}

#[derive(Clone, Debug, Default, Args)]
pub struct TopArgs {
    /// Fleet view of other gpuwarden instances (`serve` or `watch`): host:port,...
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "HOST:PORT,...",
        conflicts_with_all = ["prometheus", "trace"]
    )]
    pub agents: Vec<String>,
    /// Fleet view of every host a Prometheus server scrapes (gpuwarden or dcgm-exporter)
    #[arg(long, value_name = "URL", conflicts_with = "trace")]
    pub prometheus: Option<String>,
    /// File holding the bearer token the agents want
    #[arg(long, value_name = "PATH", requires = "agents")]
    pub token_file: Option<PathBuf>,
    /// With --agents or --prometheus over https: trust only the CA(s) in this PEM file
    /// instead of the system's roots
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// With --agents or --prometheus over https: present this PEM certificate (mutual TLS)
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key of --client-cert
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Watchdog config whose thresholds color the bars and whose event log fills the
    /// watchdog panel (default: /etc/gpuwarden/watchdog.toml when it exists)
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Play a recorded trace (`gpuwarden record`, or an nvidia-smi CSV, dmon, pmon or table log)
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// With --trace: N times the trace's own pace, e.g. 10
    #[arg(long, value_name = "N", requires = "trace", value_parser = super::replay::parse_speed)]
    pub speed: Option<f64>,
    /// With --trace: the --query-gpu list of a CSV recorded with `noheader`
    #[arg(long, value_delimiter = ',', value_name = "LIST", requires = "trace")]
    pub columns: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Args)]
pub struct SnapshotArgs {
    /// JSON (schema in docs/snapshot-schema.md)
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row, one line per GPU; `--csv=index,temperature_c,power_w` picks
    /// the columns and their order (names as in the header)
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        value_name = "FIELDS",
        value_parser = parse_csv_fields
    )]
    pub csv: Option<CsvFields>,
    /// Sample again every DURATION until interrupted, like `nvidia-smi -l`: the table once
    /// per sample, CSV with one header, JSON one compact snapshot per line
    #[arg(long = "loop", value_name = "DURATION", value_parser = parse_interval)]
    pub repeat: Option<std::time::Duration>,
}

#[derive(Clone, Debug, Default, Args)]
pub struct WatchArgs {
    /// The policy (default /etc/gpuwarden/watchdog.toml)
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Decide and log every action, change nothing (no caps, no restarts)
    #[arg(long)]
    pub dry_run: bool,
    /// Take one sample, carry out its actions, and exit
    #[arg(long)]
    pub once: bool,
    /// Where state and the event log live (overrides [watchdog] state_dir)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Do not print events on stdout (they still go to the event log)
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port and prints it)
    #[arg(long, default_value = crate::serve::DEFAULT_LISTEN, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// File holding a bearer token every request but /healthz must carry
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Serve HTTPS only, with this PEM certificate chain (and --tls-key)
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM)
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Host name to report instead of this machine's (for several exporters on one host)
    #[arg(long, value_name = "NAME")]
    pub host_name: Option<String>,
}
