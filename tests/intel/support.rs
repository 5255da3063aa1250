//! Shared pieces of the Intel tests: the recorded trees, writable copies, and a source over
//! a tree with a fake `/proc` (the write recorder and `/proc` come from the AMD tests).

pub use crate::amd_support::{Recorder, fake_proc, tree_contents, w};
use gpuwarden::gpu::amd::Sysfs;
use gpuwarden::gpu::intel::{IntelConfig, IntelSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The three recorded cards, by fixture folder.
pub const CARDS: [&str; 3] = ["a380-i915", "b580", "tigerlake"];

/// `tests/fixtures/intel-sysfs/<card>`.
pub fn fixture(card: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/intel-sysfs")
        .join(card)
}

/// A writable copy of a fixture tree in a fresh temp dir; the tree is `dir.path()/tree`.
pub fn copy_tree(card: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture(card), &dir.path().join("tree"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A source over `sysfs_root` with `proc_root`, reading and writing through `fs`.
pub fn source(sysfs_root: &Path, proc_root: &Path, fs: Arc<dyn Sysfs>) -> IntelSource {
    IntelSource::with_sysfs(
        IntelConfig {
            sysfs_root: sysfs_root.to_path_buf(),
            proc_root: proc_root.to_path_buf(),
        },
        fs,
    )
    .expect("fixture tree has an Intel card")
}
