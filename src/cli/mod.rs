//! The command line: one parser for every job, and the mapping of outcomes to exit codes.
//!
//! Exit codes, for every command: 0 all is well; 1 a finding (a failed GPU, an invalid
//! config); 2 a usage or environment error (bad flags, no driver). Each subcommand lives in
//! its own file and returns an [`ExitCode`]; errors print their whole chain.

mod args;
mod bench;
mod check;
mod check_config;
mod docs;
mod examples;
mod record;
mod replay;
mod reset;
mod serve;
mod snapshot;
mod top;
mod watch;

pub use args::{Cli, Command, CommonArgs, SourceArgs};

use clap::Parser;
use std::process::ExitCode;

/// "All is well."
pub const EXIT_OK: u8 = 0;
/// "A finding": a failed GPU, an invalid config.
pub const EXIT_FINDING: u8 = 1;
/// "Could not run": bad usage, no driver, unreadable files.
pub const EXIT_ENVIRONMENT: u8 = 2;

/// Parses the command line, runs the command, prints any error and picks the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.common.verbose, cli.common.color());
    let command = cli
        .command
        .clone()
        .unwrap_or_else(|| Command::Top(cli.top.clone()));
    let result = match command {
        Command::Top(args) => top::run(&cli, &args),
        Command::Snapshot(args) => snapshot::run(&cli, &args),
        Command::Serve(args) => serve::run(&cli, &args),
        Command::Check(args) => check::run(&cli, &args),
        Command::CheckConfig(args) => check_config::run(&args),
        Command::Watch(args) => watch::run(&cli, &args),
        Command::Bench(args) => bench::run(&cli, &args),
        Command::Record(args) => record::run(&cli, &args),
        Command::Replay(args) => replay::run(&cli, &args),
        Command::Reset(args) => reset::run(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man => docs::man(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("gpuwarden: error: {err}");
            // An error that already quotes its cause is not followed by the cause again.
            let mut said = err.to_string();
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !said.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                }
                said = cause;
            }
            ExitCode::from(EXIT_ENVIRONMENT)
        }
    }
}

/// Log lines on stderr; coloured only for a person at a terminal (not for a file, a pipe or
/// the journal), and never with `--no-color` or `NO_COLOR`.
fn init_logging(verbose: u8, color: bool) {
    use std::io::IsTerminal;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GPUWARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(color && std::io::stderr().is_terminal())
        .try_init();
}
