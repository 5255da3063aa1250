//! A mixed box: two NVIDIA GPUs from the fake NVML library, an AMD card and an Intel card
//! from recorded trees (the Intel card's energy counter advancing 45 J a second), merged as
//! `--vendor all` merges them — in `snapshot` through the binary, and drawn by the
//! dashboard on ratatui's `TestBackend` (fixed clock, host and host reading).

use crate::fake_nvml::{FakeNvml, FakeState};
use crate::support::{copy_tree, fake_proc, source};
use assert_cmd::Command;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use gpuwarden::gpu::amd::{AmdConfig, AmdSource, RealSysfs};
use gpuwarden::gpu::multi::MultiSource;
use gpuwarden::gpu::nvml::NvmlSource;
use gpuwarden::gpu::{Source, Vendor};
use gpuwarden::host::HostReading;
use gpuwarden::tui::{App, Msg, Theme, input};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// 2026-01-01 00:00:00 UTC.
const T0: u64 = 1_767_225_600_000;

fn amd_fixture(card: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/amd-sysfs")
        .join(card)
}

const B580_ENERGY: &str = "card1/device/hwmon/hwmon2/energy1_input";

fn mixed_app() -> (App, FakeNvml, tempfile::TempDir) {
    let fake = FakeNvml::new(&FakeState::with_gpus(2));
    let proc = fake_proc();
    let nvml = NvmlSource::open(Some(&fake.lib_path())).expect("fake NVML loads");
    let amd = AmdSource::with_sysfs(
        AmdConfig {
            sysfs_root: amd_fixture("rx6900xt"),
            proc_root: proc.path().to_path_buf(),
        },
        Arc::new(RealSysfs),
    )
    .expect("AMD fixture");
    let tree = copy_tree("b580");
    let root = tree.path().join("tree");
    let intel = source(&root, proc.path(), Arc::new(RealSysfs));
    let mut multi = MultiSource::new(vec![
        (Vendor::Nvidia, Box::new(nvml) as Box<dyn Source>),
        (Vendor::Amd, Box::new(amd)),
        (Vendor::Intel, Box::new(intel)),
    ]);
    let mut app = App::new(Theme::new(false));
    app.update(Msg::Host(HostReading {
        cpu_pct: 12.5,
        cpus: 32,
        mem_used_bytes: 41 << 30,
        mem_total_bytes: 125 << 30,
    }));
    for k in 0..5 {
        let uj = 11_000_000_000 + k * 45_000_000;
        std::fs::write(root.join(B580_ENERGY), format!("{uj}\n")).unwrap();
        let mut snap = multi.sample(T0 + k * 1000).expect("mixed sample");
        snap.host = "mixed-box".into();
        app.update(Msg::Sample(Box::new(snap)));
    }
    (app, fake, tree)
}

fn draw(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    terminal
        .draw(|f| f.render_widget(app, f.area()))
        .expect("drawing");
    terminal.backend().to_string()
}

#[test]
fn the_dashboard_shows_nvidia_amd_and_intel_side_by_side() {
    let (app, _fake, _tree) = mixed_app();
    let screen = draw(&app);
    assert!(screen.contains("H100 80GB HBM3"), "{screen}");
    assert!(screen.contains("AMD Radeon RX"), "{screen}");
    assert!(screen.contains("Intel Arc B580"), "{screen}");
    insta::assert_snapshot!("mixed_fleet_overview_120x40", screen);
}

#[test]
fn the_intel_card_opens_in_the_detail_view() {
    let (mut app, _fake, _tree) = mixed_app();
    for code in [KeyCode::Char('3'), KeyCode::Enter] {
        let key = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
        if let Some(msg) = input::message(&key) {
            app.update(msg);
        }
    }
    let screen = draw(&app);
    assert!(screen.contains("intel-0000:09:00.0"), "{screen}");
    assert!(
        screen.contains("45"),
        "power from the energy counter: {screen}"
    );
    insta::assert_snapshot!("mixed_fleet_intel_detail_120x40", screen);
}

#[test]
fn snapshot_with_every_vendor_numbers_nvidia_then_amd_then_intel() {
    // One sysfs tree holding an AMD and an Intel card, beside the fake NVML library.
    let fake = FakeNvml::new(&FakeState::with_gpus(2));
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path();
    copy_all(&amd_fixture("rx7900xtx").join("card0"), &both.join("card0"));
    copy_all(
        &crate::support::fixture("a380-i915").join("card1"),
        &both.join("card1"),
    );
    let mut cmd = Command::cargo_bin("gpuwarden").unwrap();
    for var in [
        "GPUWARDEN_NVML_LIB",
        "GPUWARDEN_SYSFS_ROOT",
        "FAKE_NVML_STATE",
        "LD_LIBRARY_PATH",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .args(["snapshot", "--json", "--nvml-lib"])
        .arg(fake.lib_path())
        .arg("--sysfs-root")
        .arg(both)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snap["source"], "nvml+amd+intel");
    let seen: Vec<(u64, &str, &str)> = snap["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["index"].as_u64().unwrap(),
                g["vendor"].as_str().unwrap(),
                g["uuid"].as_str().unwrap(),
            )
        })
        .collect();
    let nvidia = FakeState::with_gpus(2);
    assert_eq!(
        seen,
        [
            (0, "nvidia", nvidia.gpus[0].uuid.as_str()),
            (1, "nvidia", nvidia.gpus[1].uuid.as_str()),
            (2, "amd", "amd-0000:03:00.0"),
            (3, "intel", "intel-0000:0b:00.0"),
        ]
    );
}

fn copy_all(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_all(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}
