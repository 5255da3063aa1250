//! `--help` of the real binary: each command's own options first, then the options every
//! command shares under "GPU source options" (where readings come from, which GPUs) and
//! "Global options", then a few examples. Snapshots pin `top --help` and `snapshot --help`.

use assert_cmd::Command;

/// The help text at a fixed width, with no environment showing through `[env: …]`.
fn help(args: &[&str]) -> String {
    let mut cmd = Command::cargo_bin("gpuwarden").expect("binary");
    for var in [
        "GPUWARDEN_NVML_LIB",
        "GPUWARDEN_SYSFS_ROOT",
        "GPUWARDEN_POD_LOGS",
        "GPUWARDEN_LOG",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("COLUMNS", "100")
        .env("LINES", "50")
        .args(args)
        .output()
        .expect("running gpuwarden");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// Where each heading starts, and the heading an option is listed under.
fn heading_of<'a>(text: &'a str, option: &str) -> &'a str {
    let mut heading = "";
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            heading = line;
        } else if line
            .trim_start()
            .split([',', ' '])
            .any(|word| word == option)
        {
            return heading;
        }
    }
    panic!("{option} not in:\n{text}")
}

#[test]
fn top_help_lists_its_own_options_then_source_then_global_options() {
    let text = help(&["top", "--help"]);
    insta::assert_snapshot!("top_help", text);
    for option in ["--trace", "--agents", "--config", "--speed"] {
        assert_eq!(heading_of(&text, option), "Options:", "{option}");
    }
    for option in [
        "--demo",
        "--scenario",
        "--nvml-lib",
        "--vendor",
        "--sysfs-root",
        "--gpus",
    ] {
        assert_eq!(heading_of(&text, option), "GPU source options:", "{option}");
    }
    for option in ["--interval", "--no-color", "-v"] {
        assert_eq!(heading_of(&text, option), "Global options:", "{option}");
    }
}

#[test]
fn snapshot_help_groups_the_same_way() {
    let text = help(&["snapshot", "--help"]);
    insta::assert_snapshot!("snapshot_help", text);
    assert_eq!(heading_of(&text, "--json"), "Options:");
    assert_eq!(heading_of(&text, "--seed"), "GPU source options:");
    assert_eq!(heading_of(&text, "-v"), "Global options:");
}

/// Every command (and the bare one) keeps the order and ends with examples of itself.
#[test]
fn every_command_has_the_headings_in_order_and_examples() {
    for command in [
        "",
        "top",
        "snapshot",
        "serve",
        "check",
        "check-config",
        "watch",
        "bench",
        "record",
        "replay",
        "reset",
    ] {
        let args: Vec<&str> = [command, "-h"]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let text = help(&args);
        let at = |heading: &str| {
            text.lines()
                .position(|l| l == heading)
                .unwrap_or_else(|| panic!("{command}: no {heading}\n{text}"))
        };
        let order = [
            at("Options:"),
            at("GPU source options:"),
            at("Global options:"),
            at("Examples:"),
        ];
        assert!(order.is_sorted(), "{command}: {order:?}\n{text}");
        let shown = if command.is_empty() {
            "gpuwarden ".to_string()
        } else {
            format!("gpuwarden {command} ")
        };
        let examples: Vec<&str> = text.lines().skip(order[3] + 1).collect();
        assert!(
            (2..=4).contains(&examples.len())
                && examples
                    .iter()
                    .all(|l| l.trim_start().starts_with("gpuwarden ")),
            "{command}: {examples:?}"
        );
        assert!(
            examples.iter().any(|l| l.trim_start().starts_with(&shown)),
            "{command}: {examples:?}"
        );
    }
}
