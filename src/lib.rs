//! gpuwarden: look at, guard and prove GPUs, on one sampling core.
//!
//! `act` holds the actuators (clock caps, unit restarts, notifications, alert sinks);
//! `events` is the watchdog's event log, which `act`, `tui` and the HTTP endpoint share;
//! `daemon` is the `watch` loop that ties sampling, policy and actuators together;
//! `gpu` is the sampling core (model, sources, sampler); `health` collects the driver's
//! XID errors (NVML events, the kernel log) and explains them; `host` reads the machine itself
//! (CPU, RAM, which user and systemd unit own a process); `owner` says whose a process is
//! (unit, container, pod, Slurm job) from its cgroup; `policy` is the watchdog's config
//! (`watchdog.toml`) and its pure engine; `history` keeps recent samples for charts; `tui`
//! is the dashboard; `trace` reads recorded traces back as snapshots; `cli` turns the
//! command line into a run of one of the jobs; `bench` is the verifying burn (CUDA kernels,
//! checks, verdicts); `check` is the one-shot node health
//! check (`gpuwarden check`, Slurm drain/resume); `units` formats numbers for people; `http_client` builds every HTTP(S) client; `rlimit` raises the open-file
//! limit of the long-running commands.

pub mod act;
pub mod bench;
pub mod check;
pub mod cli;
pub mod daemon;
pub mod events;
pub mod fleet;
pub mod gpu;
pub mod health;
pub mod history;
pub mod host;
pub mod http_client;
pub mod metrics;
pub mod owner;
pub mod policy;
pub mod rlimit;
pub mod serve;
pub mod trace;
pub mod tui;
pub mod units;
