//! The examples each command's `--help` ends with: a few real command lines, the same ones
//! the README shows, so a user can copy one and change it. Each line fits 80 columns.

pub const GPUWARDEN: &str = "\
Examples:
  gpuwarden --demo                    the dashboard, no GPU needed
  gpuwarden -i 0,2 --interval 500ms   GPUs 0 and 2, twice a second
  gpuwarden snapshot --json           one sample of every GPU, for scripts
  gpuwarden check                     is this node healthy? (exit 0, 1, 2)";

pub const TOP: &str = "\
Examples:
  gpuwarden top -i 0-3 --interval 500ms              GPUs 0 to 3, twice a second
  gpuwarden top --config ./watchdog.toml             with the watchdog's rules
  gpuwarden top --agents node1:9844,node2:9844       several hosts
  gpuwarden top --trace node7.jsonl.zst --speed 10   a recorded trace";

pub const SNAPSHOT: &str = "\
Examples:
  gpuwarden snapshot --csv -i 0,2                    CSV, only GPUs 0 and 2
  gpuwarden snapshot -i GPU-5e1c0f3a-…,3b:00.0       by UUID or PCI bus id
  gpuwarden snapshot --csv=index,temperature_c       only these columns
  gpuwarden snapshot --json --loop 1s >> day.jsonl   like nvidia-smi -l";

pub const SERVE: &str = "\
Examples:
  gpuwarden serve                               /metrics on the default address
  gpuwarden serve --listen 0.0.0.0:9844 --token-file /etc/gpuwarden/token
  gpuwarden serve --demo --listen 127.0.0.1:0   simulated, on a free port";

pub const CHECK: &str = "\
Examples:
  gpuwarden check           one line per finding, then a summary
  gpuwarden check --require 'gpus=8,memory=80GiB,driver>=550'
  gpuwarden check --json    for machines
  gpuwarden check --slurm   drain / resume this Slurm node";

pub const CHECK_CONFIG: &str = "\
Examples:
  gpuwarden check-config                          /etc/gpuwarden/watchdog.toml
  gpuwarden check-config -q ./watchdog.toml       quiet when valid
  gpuwarden check-config --json ./watchdog.toml   the effective policy";

pub const WATCH: &str = "\
Examples:
  gpuwarden watch --config /etc/gpuwarden/watchdog.toml
  gpuwarden watch --dry-run --once   decide once, change nothing
  gpuwarden watch --demo --dry-run --config watchdog.toml --state-dir /tmp/gw";

pub const BENCH: &str = "\
Examples:
  gpuwarden bench                              60 s on every GPU at once
  gpuwarden bench --duration 5m -i 0,1         longer, only GPUs 0 and 1
  gpuwarden bench --json > bench.json          the report for scripts
  gpuwarden bench --demo --scenario overheat   no GPU: the simulated fleet";

pub const RECORD: &str = "\
Examples:
  gpuwarden record -o node7.jsonl.zst --duration 24h   a day, compressed
  gpuwarden record -o node7.jsonl.zst --rotate-age 1d --max-total 1G
  gpuwarden record --demo --duration 10m --simulated-time -o demo.jsonl";

pub const REPLAY: &str = "\
Examples:
  gpuwarden replay --trace gpu-node7.csv --config ./watchdog.toml
  gpuwarden replay --trace overheat.jsonl --json | jq .summary
  gpuwarden replay --trace gpu-node7.csv --speed 60   an hour a minute";

pub const RESET: &str = "\
Examples:
  gpuwarden reset                   every rule that stopped restarting
  gpuwarden reset gpu-hot --gpu 3   one rule on one GPU";
