//! The Debian package, installed on this machine for real (the test suite runs as root):
//! packaging/build-deb.sh packages the binary this `cargo test` built, `dpkg -i` installs it,
//! and then the installed unit passes `systemd-analyze verify`, the installed binary accepts
//! the installed conffile, `man -l` renders the page, the bash, zsh and fish completions
//! parse, nothing is enabled, and `dpkg -r` removes the binary but keeps the edited config.
//! The package is purged when the test ends, passed or failed.

use std::path::Path;
use std::process::{Command, Output};

const PACKAGE: &str = "gpuwarden";

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (tests/peers/install.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).into_owned()
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", PACKAGE])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout) != "not-installed" && o.status.success())
}

/// Purges the package however the test ends.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
    }
}

#[test]
fn the_package_installs_verifies_and_removes_cleanly_keeping_the_config() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "dpkg -i needs root (the test suite runs as root)"
    );
    assert!(
        !installed() && !Path::new("/usr/bin/gpuwarden").exists(),
        "gpuwarden is already installed on this machine; this test installs and purges its own"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let deb = stdout(
        Command::new("bash")
            .arg(repo.join("packaging/build-deb.sh"))
            .arg(env!("CARGO_BIN_EXE_gpuwarden"))
            .arg(tmp.path()),
    );
    let deb = deb.trim();
    assert!(deb.ends_with(".deb"), "{deb}");
    let package = stdout(Command::new("dpkg-deb").args(["-f", deb, "Package"]));
    assert_eq!(package.trim(), PACKAGE);
    let info = stdout(Command::new("dpkg-deb").args(["--info", deb, "conffiles"]));
    assert_eq!(info.trim(), "/etc/gpuwarden/watchdog.toml");

    let _purge = Purge;
    run(Command::new("dpkg").args(["-i", deb]));
    assert!(installed());

    let unit = "/usr/lib/systemd/system/gpuwarden.service";
    run(Command::new("systemd-analyze").args(["verify", unit]));
    let enabled = Command::new("systemctl")
        .args(["is-enabled", "gpuwarden.service"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&enabled.stdout).trim(),
        "disabled",
        "installing enables nothing"
    );

    let summary = stdout(
        Command::new("/usr/bin/gpuwarden").args(["check-config", "/etc/gpuwarden/watchdog.toml"]),
    );
    assert!(summary.contains("rule"), "{summary}");
    assert!(Path::new("/usr/share/gpuwarden/prometheus/gpuwarden-rules.yml").exists());
    assert!(Path::new("/usr/lib/sysusers.d/gpuwarden.conf").exists());
    assert!(Path::new("/usr/share/gpuwarden/polkit-1/50-gpuwarden-restart.rules").exists());

    let page = stdout(
        Command::new("man")
            .args(["-l", "/usr/share/man/man1/gpuwarden.1.gz"])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"),
    );
    assert!(
        page.contains("NAME") && page.contains("gpuwarden"),
        "{page}"
    );
    assert!(
        page.contains("check-config") && page.contains("watch"),
        "{page}"
    );

    let bash = "/usr/share/bash-completion/completions/gpuwarden";
    run(Command::new("bash").args(["-n", bash]));
    // Sourced for real: the function it defines is registered for the command.
    let complete = stdout(
        Command::new("bash").args(["-c", &format!("source {bash} && complete -p gpuwarden")]),
    );
    assert!(complete.contains("gpuwarden"), "{complete}");
    run(Command::new("zsh").args(["-n", "/usr/share/zsh/vendor-completions/_gpuwarden"]));
    run(Command::new("fish").args([
        "--no-execute",
        "/usr/share/fish/vendor_completions.d/gpuwarden.fish",
    ]));

    // The admin's edit survives removal; the binary does not.
    let conf = Path::new("/etc/gpuwarden/watchdog.toml");
    let mut text = std::fs::read_to_string(conf).unwrap();
    text.push_str("\n# edited by the admin\n");
    std::fs::write(conf, &text).unwrap();
    run(Command::new("dpkg").args(["-r", PACKAGE]));
    assert!(
        !Path::new("/usr/bin/gpuwarden").exists(),
        "dpkg -r left the binary"
    );
    assert!(!Path::new(unit).exists(), "dpkg -r left the unit");
    assert_eq!(
        std::fs::read_to_string(conf).unwrap(),
        text,
        "the config is kept"
    );

    run(Command::new("dpkg").args(["--purge", PACKAGE]));
    assert!(!conf.exists(), "purge removes the conffile");
    assert!(!installed());
}
